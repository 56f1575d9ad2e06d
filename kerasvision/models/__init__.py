"""The model registry and the built-in models (``kv models`` lists them)."""

from kerasvision.models.registry import (
    ModelSpec,
    create_model,
    get_model_spec,
    list_models,
    register_model,
)

__all__ = ["ModelSpec", "create_model", "get_model_spec", "list_models", "register_model"]
