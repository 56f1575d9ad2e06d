"""The model registry and the built-in models (``kv models`` lists them)."""

from kerasvision.models.catalog import create_model, get_model_spec, list_models
from kerasvision.models.registry import ModelSpec, ModelStats, register_model

__all__ = [
    "ModelSpec",
    "ModelStats",
    "create_model",
    "get_model_spec",
    "list_models",
    "register_model",
]
