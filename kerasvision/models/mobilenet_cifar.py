"""A MobileNetV2-style network for small images: ``mobilenet_v2_cifar``.

Inverted residual blocks (Sandler et al. 2018): a 1x1 expansion, a 3x3
depthwise convolution, both with batch normalization and ReLU6, and a linear
1x1 projection; the input is added back when the block keeps its shape. As in
the usual CIFAR adaptation, the stem runs at stride 1 instead of 2, so a 32x32
image is not shrunk at once; the first block of each later group downsamples,
three times in all (32 -> 16 -> 8 -> 4), which keeps the cost low on a CPU.
It keeps the first four groups of the paper's table (16, 24, 32 and 64
channels) and a last 1x1 convolution four times as wide as the last group, so
that at small widths it is a distillation student of tens of thousands of
parameters.

Layer names are deterministic: ``stem_conv``, ``block{n}_{expand,dw,project}_{conv,bn}``,
``block{n}_add``, ``head_conv``.
"""

from __future__ import annotations

from kerasvision.backend import keras
from kerasvision.models.heads import check_dropout, classifier, pixels_input, scale_to_unit
from kerasvision.models.registry import register_model

_INIT = "he_normal"

# (expansion, output channels at width 1.0, blocks, stride of the first block)
_CIFAR_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 2, 2),
    (6, 64, 2, 2),
)
_STEM = 32
_HEAD = 256


def _make_divisible(channels: float, divisor: int = 8) -> int:
    """``channels`` rounded to a multiple of ``divisor``, never 10% below it (as in Keras)."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=_INIT,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _inverted_residual(x, expansion: int, filters: int, stride: int, name: str):
    """Expand 1x1, depthwise 3x3, project 1x1 (linear); residual when shapes match."""
    channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = _conv_bn(y, channels * expansion, 1, 1, f"{name}_expand")
    y = keras.layers.DepthwiseConv2D(
        3,
        strides=stride,
        padding="same",
        use_bias=False,
        depthwise_initializer=_INIT,
        name=f"{name}_dw_conv",
    )(y)
    y = keras.layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = keras.layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", relu=False)
    if stride == 1 and channels == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def _mobilenet_v2_cifar(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    width: float,
    dropout: float,
    blocks: tuple[tuple[int, int, int, int], ...],
    name: str,
):
    """Builds a MobileNetV2-style network from a ``(t, c, n, s)`` block table."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    check_dropout(dropout)
    inputs = pixels_input(input_shape)
    x = scale_to_unit(inputs)
    x = _conv_bn(x, _make_divisible(_STEM * width), 3, 1, "stem")
    index = 0
    for expansion, channels, repeats, stride in blocks:
        filters = _make_divisible(channels * width)
        for repeat in range(repeats):
            index += 1
            block_stride = stride if repeat == 0 else 1
            x = _inverted_residual(x, expansion, filters, block_stride, f"block{index}")
    x = _conv_bn(x, _make_divisible(_HEAD * width), 1, 1, "head")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = classifier(x, num_classes, dropout)
    return keras.Model(inputs, outputs, name=name)


@register_model(default_size=32)
def mobilenet_v2_cifar(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    width: float = 1.0,
    dropout: float = 0.2,
):
    """MobileNetV2-style net for small images: inverted residuals, stride-1 stem.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, channels)``; 32x32 is the design size.
        width: Multiplier of every layer's channels (32 in the stem, 16 to 64
            in the blocks, 256 in the last 1x1 convolution at 1.0), each
            rounded to a multiple of 8; 0.35 makes a ~29k-parameter student.
            Defaults to 1.0.
        dropout: Dropout before the classifier. Defaults to 0.2.

    Returns:
        A ``keras.Model`` named ``mobilenet_v2_cifar``.
    """
    return _mobilenet_v2_cifar(
        num_classes=num_classes,
        input_shape=input_shape,
        width=width,
        dropout=dropout,
        blocks=_CIFAR_BLOCKS,
        name="mobilenet_v2_cifar",
    )
