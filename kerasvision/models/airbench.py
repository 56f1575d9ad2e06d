"""``airbench``: a fast CIFAR teacher after Keller Jordan's airbench94 and Page's ResNet-9.

A frozen 2x2 patch-whitening convolution (``whiten``: its kernel is set from
the training images by ``kv train --whiten``), then three conv groups of
``conv - max-pool - BN - ReLU - conv - BN - ReLU`` at 64/256/256 filters x
``width``, a global max-pool, the features scaled by 1/8 (the logit scale of
Page's ResNet-9 and airbench, which keeps the first steps' gradients small)
and the classifier. ReLU instead of airbench's
GELU keeps every export path exact (TFLite, ONNX, TensorRT have no float
GELU caveats). Layer names are deterministic: ``group{g}_{part}``.
"""

from __future__ import annotations

from kerasvision.backend import keras
from kerasvision.models.heads import check_dropout, classifier, pixels_input, scale_to_unit
from kerasvision.models.registry import register_model

GROUP_WIDTHS = (64, 256, 256)
WHITEN_SIZE = 2
FEATURE_SCALE = 0.125


def whiten_filters(channels: int, size: int = WHITEN_SIZE) -> int:
    """Filters of the whitening conv: each eigenvector of the patch covariance, signed +/-."""
    return 2 * size * size * channels


def _group(x, filters: int, name: str):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    x = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn2")(x)
    return keras.layers.ReLU(name=f"{name}_relu2")(x)


def _scaled(filters: int, width: float) -> int:
    return max(8, round(filters * width / 8) * 8)


@register_model(default_size=32, min_size=24)
def airbench(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    width: float = 1.0,
    dropout: float = 0.0,
):
    """airbench94-style fast CIFAR net: whitening conv + three wide conv-pool-BN groups.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, channels)``; 32x32 is the design size.
        width: Multiplier of the group widths 64/256/256 (rounded to a
            multiple of 8). Defaults to 1.0 (about 2M parameters).
        dropout: Dropout before the classifier. Defaults to 0.0.
    """
    if not 0.05 <= width <= 8:
        raise ValueError(f"width must be in [0.05, 8], got {width}")
    check_dropout(dropout)
    inputs = pixels_input(input_shape)
    x = scale_to_unit(inputs)
    x = keras.layers.Conv2D(
        whiten_filters(input_shape[-1]), WHITEN_SIZE, use_bias=True, name="whiten"
    )(x)
    x = keras.layers.ReLU(name="whiten_relu")(x)
    for g, filters in enumerate(GROUP_WIDTHS, start=1):
        x = _group(x, _scaled(filters, width), f"group{g}")
    x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
    x = keras.layers.Rescaling(FEATURE_SCALE, name="feature_scale")(x)
    return keras.Model(inputs, classifier(x, num_classes, dropout), name="airbench")
