"""Model registry, after timm: ``@register_model``, ``create_model``, ``list_models``.

A registered builder takes ``num_classes`` and ``input_shape`` by keyword (plus
its own options) and returns a ``keras.Model`` whose input is raw pixels
(0-255, float32) and whose output is class probabilities. Normalization lives
inside the model, so exported files need nothing but the image.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from kerasvision.errors import KVError, unknown


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of a model.

    Attributes:
        name: The registered name.
        builder: ``fn(*, num_classes, input_shape, **options) -> keras.Model``.
        default_size: Preferred square input size, or None for any size.
        pretrained: Whether ``weights="imagenet"`` is available.
        description: One line for ``kv models``.
    """

    name: str
    builder: Callable
    default_size: int | None
    pretrained: bool
    description: str

    @property
    def options(self) -> list[str]:
        params = inspect.signature(self.builder).parameters
        return [p for p in params if p not in ("num_classes", "input_shape")]


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str | None = None,
    *,
    default_size: int | None = None,
    pretrained: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator that adds a model builder to the registry.

    Args:
        name: Registered name. Defaults to None (the function's name).
        default_size: Preferred square input size. Defaults to None.
        pretrained: Whether ImageNet weights are available. Defaults to False.

    Returns:
        The decorator; it returns the builder unchanged.
    """

    def decorator(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model '{key}' is already registered")
        doc = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        _REGISTRY[key] = ModelSpec(key, fn, default_size, pretrained, doc)
        return fn

    return decorator


def _ensure_builtins() -> None:
    # Importing the modules registers the built-in models.
    from kerasvision.models import applications, mobilenet_cifar, resnet_cifar, simple  # noqa: F401


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern, sorted.

    Args:
        pattern: ``fnmatch`` pattern, e.g. ``"resnet*"``. Defaults to ``"*"``.
    """
    _ensure_builtins()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_model_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` of a registered model; KVError with a suggestion if unknown."""
    _ensure_builtins()
    if name not in _REGISTRY:
        raise unknown("model", name, _REGISTRY)
    return _REGISTRY[name]


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
