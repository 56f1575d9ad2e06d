"""Model registry, after timm: ``@register_model`` and the specs it records.

A registered builder takes ``num_classes`` and ``input_shape`` by keyword (plus
its own options) and returns a ``keras.Model`` whose input is raw pixels
(0-255, float32) and whose output is class probabilities. Normalization lives
inside the model, so exported files need nothing but the image.

This module imports no model module: the built-in models import it to
register themselves, and ``kerasvision.models.catalog`` (``list_models``,
``create_model``) loads them, so there is no import cycle.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelStats:
    """Figures of a model kept in its table, so ``kv models`` need not build it.

    Attributes:
        backbone_params: Parameters of everything but the classifier.
        features: Width of the pooled features the classifier reads.
        backbone_flops: FLOPs of one image at the default size, without the
            classifier (``tf.profiler``'s float-operation count: a
            multiply-add is 2).
    """

    backbone_params: int
    features: int
    backbone_flops: int

    def params(self, num_classes: int) -> int:
        """All parameters with a ``num_classes``-way classifier."""
        return self.backbone_params + (self.features + 1) * num_classes

    def flops(self, num_classes: int) -> int:
        """FLOPs of one image at the default size with a ``num_classes``-way classifier."""
        return self.backbone_flops + 2 * self.features * num_classes


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of a model.

    Attributes:
        name: The registered name.
        builder: ``fn(*, num_classes, input_shape, **options) -> keras.Model``.
        default_size: Preferred square input size, or None for any size.
        pretrained: Whether ``weights="imagenet"`` is available.
        description: One line for ``kv models``.
        min_size: Smallest square input size it builds at, or None for any.
        family: The int8 family (a key of ``kerasvision.models.int8.FAMILIES``),
            or None when nothing is known.
        stats: Cached parameters and FLOPs, or None (``kv models`` builds it).
    """

    name: str
    builder: Callable
    default_size: int | None
    pretrained: bool
    description: str
    min_size: int | None = None
    family: str | None = None
    stats: ModelStats | None = None

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
    min_size: int | None = None,
    family: str | None = None,
    stats: ModelStats | None = None,
    description: str | None = None,
) -> Callable[[Callable], Callable]:
    """Decorator that adds a model builder to the registry.

    Args:
        name: Registered name. Defaults to None (the function's name).
        default_size: Preferred square input size. Defaults to None.
        pretrained: Whether ImageNet weights are available. Defaults to False.
        min_size: Smallest square input size. Defaults to None (any).
        family: Its int8 family in ``kerasvision.models.int8``. Defaults to None.
        stats: Cached parameters and FLOPs. Defaults to None.
        description: One line for ``kv models``. Defaults to None (the first
            line of the builder's docstring).

    Returns:
        The decorator; it returns the builder unchanged.
    """

    def decorator(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model '{key}' is already registered")
        doc = description or (inspect.getdoc(fn) or "").split("\n", 1)[0]
        _REGISTRY[key] = ModelSpec(key, fn, default_size, pretrained, doc, min_size, family, stats)
        return fn

    return decorator


def registered() -> dict[str, ModelSpec]:
    """The registry itself: name to ``ModelSpec`` (built-ins only once loaded)."""
    return _REGISTRY
