"""Saving models as plain Keras files that load without kerasvision."""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path
from typing import Any

from kerasvision import _compat
from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.fileio import atomic_path

# Layer classes of tensorflow-model-optimization: a model holding them (QAT,
# or pruning not yet stripped) loads only inside tfmot's custom-object scopes.
_TFMOT_CLASSES = ("QuantizeWrapper", "QuantizeLayer", "PruneLowMagnitude")


def tfmot_scope(config_text: str) -> contextlib.AbstractContextManager:
    """The custom-object scopes that ``config_text`` needs to be rebuilt.

    tfmot's ``quantize_scope`` and ``prune_scope`` for QAT and pruned models,
    and the unregistered layers of ``keras.applications`` models (ConvNeXt's
    ``LayerScale``).
    """
    stack = contextlib.ExitStack()
    custom = {k: v for k, v in _compat.application_layers().items() if f'"{k}"' in config_text}
    if custom:
        stack.enter_context(keras.utils.custom_object_scope(custom))
    if any(name in config_text for name in _TFMOT_CLASSES):
        import tensorflow_model_optimization as tfmot

        stack.enter_context(tfmot.quantization.keras.quantize_scope())
        stack.enter_context(tfmot.sparsity.keras.prune_scope())
    return stack


def _config_text(path: Path) -> str:
    """The model config of a ``.keras`` or ``.h5`` file, or '' for other formats."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "config.json" in archive.namelist():
                return archive.read("config.json").decode("utf-8", errors="replace")
        return ""
    import h5py

    if not h5py.is_hdf5(path):
        return ""
    with h5py.File(path, "r") as h5:
        config = h5.attrs.get("model_config", "")
    return config.decode("utf-8", errors="replace") if isinstance(config, bytes) else str(config)


def _lambda_layers(node: Any) -> list[str]:
    """Names of the ``Lambda`` layers (Python code) anywhere in a model config."""
    if isinstance(node, list):
        return [name for item in node for name in _lambda_layers(item)]
    if not isinstance(node, dict):
        return []
    found = [str(node.get("config", {}).get("name"))] if node.get("class_name") == "Lambda" else []
    return found + [name for value in node.values() for name in _lambda_layers(value)]


def refuse_code(path: Path, config_text: str) -> None:
    """Raises ``KVError`` when a model file holds ``Lambda`` layers, whose Python code
    would run on load (Keras' safe mode refuses them in ``.keras`` files; ``.h5``
    files have no safe mode, so this check is kerasvision's own)."""
    try:
        names = _lambda_layers(json.loads(config_text)) if config_text else []
    except json.JSONDecodeError:
        return
    if names:
        raise KVError(
            f"{path.name} holds Lambda layer(s) ({', '.join(names[:3])}) whose Python code "
            "would run on load; kerasvision loads models in safe mode: pass --unsafe only "
            "if you trust where the file came from"
        )


def _float32_config(node: Any) -> Any:
    """A copy of a model config with every mixed-precision layer policy set to float32."""
    if isinstance(node, dict):
        if node.get("class_name") == "Policy" and "mixed" in str(node.get("config")):
            return "float32"
        return {k: _float32_config(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float32_config(v) for v in node]
    return node


def _policy_config(node: Any, policy: str) -> Any:
    """A copy of a model config with every layer but the inputs under ``policy``."""
    if isinstance(node, list):
        return [_policy_config(v, policy) for v in node]
    if not isinstance(node, dict):
        return node
    copy = {k: _policy_config(v, policy) for k, v in node.items()}
    layer = copy.get("config")
    if isinstance(layer, dict) and "dtype" in layer and copy.get("class_name") != "InputLayer":
        copy["config"] = {**layer, "dtype": policy}
    return copy


def save_model(model, path: str | Path) -> Path:
    """Saves ``model`` as a float32, uncompiled Keras file at ``path``, atomically.

    The copy has no optimizer (ours uses kerasvision's schedule, which plain
    Keras could not load) and no mixed-precision policy (what was trained in
    float16 or bfloat16 is stored and served in float32), so the file loads
    with plain ``tf_keras.models.load_model`` and converts cleanly. A model
    with a ``student`` (a ``Distiller``) saves its student. A QAT model keeps
    its tfmot layers; ``load_model`` reloads it.
    """
    path = Path(path)
    copy = float32_copy(model)
    with atomic_path(path) as tmp:
        copy.save(tmp)
    return path


def float32_copy(model):
    """A new, uncompiled copy of ``model`` (its student, for a ``Distiller``) in float32.

    Every mixed-precision layer policy becomes float32 and the weights are
    cast: this is the model ``save_model`` writes and every export runs.
    """
    model = getattr(model, "student", model)
    weights = [w.astype("float32") for w in model.get_weights()]
    return _rebuilt(model, _float32_config(model.get_config()), weights)


def policy_copy(model, policy: str):
    """A new, uncompiled copy of ``model`` whose layers compute under ``policy``.

    What a frozen teacher runs for its soft targets: under ``mixed_bfloat16``
    an airbench teacher labels a batch 2.5x faster on an AVX512-BF16 CPU than
    in the float32 its file holds. The weights stay float32 variables.

    Args:
        model: A float32 Keras model (a ``Distiller``'s teacher).
        policy: A Keras dtype policy name, e.g. ``mixed_bfloat16``.

    Returns:
        The copy, with ``model``'s weights.
    """
    return _rebuilt(model, _policy_config(model.get_config(), policy), model.get_weights())


def _rebuilt(model, config: dict, weights: list) -> Any:
    """A new model of ``model``'s class from ``config`` (tfmot layers known), with ``weights``."""
    with tfmot_scope(json.dumps(config, default=str)):
        copy = model.__class__.from_config(config)
    copy.set_weights(weights)
    return copy


def load_model(path: str | Path, *, unsafe: bool = False):
    """Loads a ``.keras`` (or SavedModel/H5) model without compiling it, in safe mode.

    A file holding ``Lambda`` layers (arbitrary Python code) is refused unless
    ``unsafe`` is True (``--unsafe``).

    Quantization-aware (QAT) models, and pruned models saved before
    ``strip_pruning``, hold tensorflow-model-optimization layers; they load
    inside tfmot's custom-object scopes, entered here when the file needs them
    (plain ``tf_keras.models.load_model`` needs
    ``tfmot.quantization.keras.quantize_scope()`` for them).
    """
    path = Path(path)
    config_text = _config_text(path) if path.is_file() else ""
    if not unsafe:
        refuse_code(path, config_text)
    with tfmot_scope(config_text):
        return keras.models.load_model(path, compile=False, safe_mode=not unsafe)
