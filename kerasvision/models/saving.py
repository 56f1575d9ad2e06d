"""Saving models as plain Keras files that load without kerasvision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerasvision.backend import keras
from kerasvision.fileio import atomic_path


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
    with a ``student`` (a ``Distiller``) saves its student.
    """
    path = Path(path)
    model = getattr(model, "student", model)
    copy = model.__class__.from_config(_float32_config(model.get_config()))
    copy.set_weights([w.astype("float32") for w in model.get_weights()])
    with atomic_path(path) as tmp:
        copy.save(tmp)
    return path


def load_model(path: str | Path):
    """Loads a ``.keras`` (or SavedModel/H5) model without compiling it."""
    return keras.models.load_model(path, compile=False)
