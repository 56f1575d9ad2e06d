"""CIFAR-style ResNets (He et al. 2016, section 4.2): ``resnet8``, ``resnet20``, ``resnet56``.

Three stages of basic blocks with 16, 32 and 64 filters; depth = 6n + 2. ``resnet8``
(one block per stage, about 78k parameters) is the MLPerf Tiny image-classification
reference model, with its widths as an option. The
first block of stages 2 and 3 halves the resolution, with a 1x1 projection on
its shortcut. Layer names are deterministic: ``stage{s}_block{b}_{part}``.
"""

from __future__ import annotations

from kerasvision.backend import keras
from kerasvision.models.heads import check_dropout, classifier, pixels_input, scale_to_unit
from kerasvision.models.registry import register_model

_INIT = "he_normal"


def _basic_block(x, filters: int, stride: int, name: str):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters,
            1,
            strides=stride,
            use_bias=False,
            kernel_initializer=_INIT,
            name=f"{name}_proj_conv",
        )(x)
        shortcut = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = keras.layers.Conv2D(
        filters,
        3,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=_INIT,
        name=f"{name}_conv1",
    )(x)
    y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer=_INIT,
        name=f"{name}_conv2",
    )(y)
    y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _cifar_resnet(
    depth: int,
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    dropout: float = 0.0,
    width: float = 1.0,
    name: str,
):
    """Builds a CIFAR ResNet of ``depth`` = 6n + 2 layers, stage widths 16/32/64 x ``width``."""
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2, got {depth}")
    if not 0.1 <= width <= 8:
        raise ValueError(f"width must be in [0.1, 8], got {width}")
    check_dropout(dropout)
    widths = [max(4, round(f * width / 4) * 4) for f in (16, 32, 64)]
    blocks = (depth - 2) // 6
    inputs = pixels_input(input_shape)
    x = scale_to_unit(inputs)
    x = keras.layers.Conv2D(
        widths[0], 3, padding="same", use_bias=False, kernel_initializer=_INIT, name="stem_conv"
    )(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(widths, start=1):
        for block in range(1, blocks + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = _basic_block(x, filters, stride, f"stage{stage}_block{block}")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = classifier(x, num_classes, dropout)
    return keras.Model(inputs, outputs, name=name)


@register_model(default_size=32)
def resnet8(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    width: float = 1.0,
    dropout: float = 0.0,
):
    """CIFAR ResNet-8, the MLPerf Tiny edge student: 78k parameters, ReLU, int8-clean.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, channels)``; 32x32 is the design size.
        width: Multiplier of the stage widths 16/32/64 (rounded to a multiple
            of 4). Defaults to 1.0.
        dropout: Dropout before the classifier. Defaults to 0.0.
    """
    return _cifar_resnet(
        8,
        num_classes=num_classes,
        input_shape=input_shape,
        dropout=dropout,
        width=width,
        name="resnet8",
    )


@register_model(default_size=32)
def resnet20(*, num_classes: int, input_shape: tuple[int, int, int], dropout: float = 0.0):
    """CIFAR ResNet-20 (He et al. 2016), the small-image baseline.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, channels)``; 32x32 is the design size.
        dropout: Dropout before the classifier. Defaults to 0.0.
    """
    return _cifar_resnet(
        20, num_classes=num_classes, input_shape=input_shape, dropout=dropout, name="resnet20"
    )


@register_model(default_size=32)
def resnet56(*, num_classes: int, input_shape: tuple[int, int, int], dropout: float = 0.0):
    """CIFAR ResNet-56 (He et al. 2016), a stronger small-image teacher.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, channels)``; 32x32 is the design size.
        dropout: Dropout before the classifier. Defaults to 0.0.
    """
    return _cifar_resnet(
        56, num_classes=num_classes, input_shape=input_shape, dropout=dropout, name="resnet56"
    )
