"""Looking models up: ``list_models``, ``get_model_spec``, ``create_model``.

The built-in model modules are imported here, on first use, so that
``import kerasvision.models`` stays cheap and the registry imports no model.
"""

from __future__ import annotations

import fnmatch
import importlib

from kerasvision.errors import KVError, unknown
from kerasvision.models.registry import ModelSpec, registered

_BUILTIN_MODULES = (
    "simple",
    "resnet_cifar",
    "airbench",
    "mobilenet_cifar",
    "applications",
    "efficientnet_lite",
)


def _load_builtins() -> dict[str, ModelSpec]:
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"kerasvision.models.{module}")
    return registered()


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern, sorted.

    Args:
        pattern: ``fnmatch`` pattern, e.g. ``"resnet*"``. Defaults to ``"*"``.
    """
    return sorted(n for n in _load_builtins() if fnmatch.fnmatch(n, pattern))


def get_model_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` of a registered model; KVError with a suggestion if unknown."""
    models = _load_builtins()
    if name not in models:
        raise unknown("model", name, models)
    return models[name]


def create_model(
    name: str,
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    **options,
):
    """Builds a registered model.

    Args:
        name: A registered name (``list_models()``).
        num_classes: Number of output classes.
        input_shape: ``(height, width, channels)`` of the raw-pixel input.
        **options: Builder options (``weights``, ``width``, ``dropout``...);
            options a builder does not take are ignored when their value is the
            neutral default, rejected otherwise.

    Returns:
        The ``keras.Model``.
    """
    spec = get_model_spec(name)
    if num_classes < 2:
        raise KVError(f"num_classes must be at least 2, got {num_classes}")
    if spec.min_size and min(input_shape[:2]) < spec.min_size:
        raise KVError(
            f"{name} needs inputs of at least {spec.min_size}x{spec.min_size}, "
            f"got {tuple(input_shape[:2])}"
        )
    accepted = set(spec.options)
    # Values that mean "nothing special", so one config can serve every model.
    neutral = {"weights": "none", "width": 1.0, "dropout": 0.0}
    kwargs = {}
    for key, value in options.items():
        if key in accepted:
            kwargs[key] = value
        elif neutral.get(key, object()) != value:
            raise KVError(f"model '{name}' does not take the option {key}={value!r}")
    return spec.builder(num_classes=num_classes, input_shape=tuple(input_shape), **kwargs)
