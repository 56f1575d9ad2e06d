"""Loading trained models to train on: a teacher to distill from, or an ``init`` model.

A run directory (its final model) or a model file; ``init_config`` and
``check_init`` fit the run's config and data to a model it starts from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kerasvision.config import TrainConfig
from kerasvision.errors import KVError
from kerasvision.models import list_models
from kerasvision.models.saving import load_model
from kerasvision.run import Run


def load_trained(spec: str, role: str = "model"):
    """Loads a trained model from a run directory (its final model) or a model file.

    Args:
        spec: A run directory or a ``.keras``/``.h5``/SavedModel path.
        role: What the model is for, in error messages (``teacher``, ``init``
            model). Defaults to ``model``.

    Returns:
        The loaded ``keras.Model``.

    Raises:
        KVError: When nothing is at ``spec`` or it does not load.
    """
    path = Path(spec)
    if Run(path).config_file.is_file():
        path = Run(path).final_model()
    if not path.exists():
        raise KVError(f"{role} not found: {spec} (give a run directory or a model file)")
    try:
        return load_model(path)
    except (OSError, ValueError) as exc:
        raise KVError(f"cannot load the {role} {path}: {str(exc).splitlines()[0]}") from None


def load_teacher(spec: str):
    """Loads a teacher from a run directory (its final model) or a model file."""
    return load_trained(spec, "teacher")


def init_config(config: TrainConfig, model) -> TrainConfig:
    """The config of a run that starts from ``model``: its input size, channels and name.

    Args:
        config: The run's config.
        model: The model it starts from (``config.init``).

    Returns:
        ``config`` with ``image_size`` and ``channels`` (where unset) and
        ``model`` (for a registered name) taken from ``model``.
    """
    height, width, channels = model.input_shape[1:4]
    if height != width or height is None:
        raise KVError(f"the init model takes {height}x{width} images; kv trains square inputs")
    names = {"model": model.name} if model.name in list_models() else {}
    return dataclasses.replace(
        config,
        image_size=config.image_size or height,
        channels=config.channels or channels,
        **names,
    )


def check_init(model, data):
    """Returns ``model`` when it fits the data's classes and input shape, else raises KVError.

    Args:
        model: The model a run starts from.
        data: The run's ``DataSplits``.
    """
    if model.output_shape[-1] != data.num_classes:
        raise KVError(
            f"the init model predicts {model.output_shape[-1]} classes, the data has "
            f"{data.num_classes}"
        )
    if tuple(model.input_shape[1:]) != tuple(data.input_shape):
        raise KVError(
            f"the init model takes {model.input_shape[1:]} inputs, the data is "
            f"{tuple(data.input_shape)}; leave image_size and channels unset"
        )
    return model
