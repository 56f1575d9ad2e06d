"""Saving models as plain Keras files that load without kerasvision."""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path
from typing import Any

from kerasvision import _compat
from kerasvision.backend import keras
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
    """The model config of a ``.keras`` file, or '' for other formats."""
    if not zipfile.is_zipfile(path):
        return ""
    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode("utf-8", errors="replace")


def _float32_config(node: Any) -> Any:
    """A copy of a model config with every mixed-precision layer policy set to float32."""
    if isinstance(node, dict):
        if node.get("class_name") == "Policy" and "mixed" in str(node.get("config")):
            return "float32"
        return {k: _float32_config(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float32_config(v) for v in node]
    return node


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
    config = _float32_config(model.get_config())
    with tfmot_scope(json.dumps(config, default=str)):
        copy = model.__class__.from_config(config)
    copy.set_weights([w.astype("float32") for w in model.get_weights()])
    return copy


def load_model(path: str | Path):
    """Loads a ``.keras`` (or SavedModel/H5) model without compiling it.

    Quantization-aware (QAT) models, and pruned models saved before
    ``strip_pruning``, hold tensorflow-model-optimization layers; they load
    inside tfmot's custom-object scopes, entered here when the file needs them
    (plain ``tf_keras.models.load_model`` needs
    ``tfmot.quantization.keras.quantize_scope()`` for them).
    """
    path = Path(path)
    with tfmot_scope(_config_text(path) if path.is_file() else ""):
        return keras.models.load_model(path, compile=False)
