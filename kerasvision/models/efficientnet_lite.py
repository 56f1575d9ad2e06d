"""EfficientNet-Lite0..4 (Google, 2020): EfficientNet made for int8 on phones.

The changes from EfficientNet-B0..B4, as published with the Lite models
(tensorflow/tpu, ``models/official/efficientnet/lite``):

- ReLU6 instead of swish, and no squeeze-excite blocks: both quantize badly;
- the stem (32 filters) and the head (1280) are not scaled with the width,
  and neither are the repeats of the first and the last block group;
- inputs normalized as ``(x - 127) / 128``.

The width, depth, resolution and dropout of each variant are the published
table (``LITE_VARIANTS``). Keras ships no Lite weights: these models train from
scratch, or from a weights file of this same backbone (``--weights FILE``,
saved with ``model.get_layer("backbone").save_weights(...)``). As with the
``keras.applications`` models, the network is a nested model named
``backbone`` (frozen first, then fine-tuned, when a weights file is given).

Layer names are deterministic: ``stem_conv``, ``block{stage}{letter}_{expand,dw,
project}_{conv,bn}``, ``block{stage}{letter}_add``, ``top_conv``.
"""

from __future__ import annotations

import math
import string

from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.models.cached_stats import STATS
from kerasvision.models.heads import check_dropout, classifier, pixels_input
from kerasvision.models.mobilenet_cifar import _make_divisible
from kerasvision.models.registry import register_model
from kerasvision.models.weights import check_weights, load_into

# name: (width coefficient, depth coefficient, resolution, dropout)
LITE_VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": (1.4, 1.8, 300, 0.3),
}
# EfficientNet-B0's block groups: (kernel, repeats, output filters, expansion, stride).
BLOCKS = (
    (3, 1, 16, 1, 1),
    (3, 2, 24, 6, 2),
    (5, 2, 40, 6, 2),
    (3, 3, 80, 6, 2),
    (5, 3, 112, 6, 1),
    (5, 4, 192, 6, 2),
    (3, 1, 320, 6, 1),
)
STEM, HEAD = 32, 1280
DROP_CONNECT = 0.2


def _init():
    """A fresh He-style initializer per layer (one instance would repeat its values)."""
    return keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False,
        kernel_initializer=_init(), name=f"{name}_conv",
    )(x)  # fmt: skip
    x = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _mbconv(x, filters: int, kernel: int, stride: int, expansion: int, drop: float, name: str):
    """Inverted residual without squeeze-excite: expand 1x1, depthwise, project 1x1."""
    channels = x.shape[-1]
    y = _conv_bn(x, channels * expansion, 1, 1, f"{name}_expand") if expansion != 1 else x
    y = keras.layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False,
        depthwise_initializer=_init(), name=f"{name}_dw_conv",
    )(y)  # fmt: skip
    y = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=f"{name}_dw_bn")(y)
    y = keras.layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", relu=False)
    if stride == 1 and channels == filters:
        if drop:
            y = keras.layers.Dropout(drop, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(y)
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def lite_backbone(input_shape: tuple[int, int, int], width: float, depth: float):
    """The Lite network from normalized input to pooled features, named ``backbone``."""
    inputs = keras.Input(shape=input_shape, name="normalized")
    x = _conv_bn(inputs, STEM, 3, 2, "stem")
    repeats = [
        r if i in (0, len(BLOCKS) - 1) else math.ceil(depth * r)
        for i, (_, r, _, _, _) in enumerate(BLOCKS)
    ]
    total, index = sum(repeats), 0
    for stage, ((kernel, _, filters, expansion, stride), count) in enumerate(
        zip(BLOCKS, repeats, strict=True), start=1
    ):
        filters = _make_divisible(filters * width)
        for block in range(count):
            name = f"block{stage}{string.ascii_lowercase[block]}"
            drop = DROP_CONNECT * index / total
            x = _mbconv(x, filters, kernel, stride if block == 0 else 1, expansion, drop, name)
            index += 1
    x = _conv_bn(x, HEAD, 1, 1, "top")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name="backbone")


def _lite_builder(name: str):
    width, depth, _, default_dropout = LITE_VARIANTS[name]

    def build(*, num_classes, input_shape, weights="none", dropout=default_dropout):
        check_dropout(dropout)
        if weights == "imagenet":
            raise KVError(
                f"Keras ships no ImageNet weights for {name}: train it from scratch "
                "(--weights none) or pass --weights FILE"
            )
        check_weights(weights, input_shape, name)
        backbone = lite_backbone(tuple(input_shape), width, depth)
        if weights != "none":
            load_into(backbone, weights, name)
        inputs = pixels_input(input_shape)
        x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalize")(inputs)
        x = backbone(x, training=False) if weights != "none" else backbone(x)
        outputs = classifier(x, num_classes, dropout)
        return keras.Model(inputs, outputs, name=name)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"EfficientNet-Lite{name[-1]}: ReLU6, no squeeze-excite, fixed stem and head; "
        "no ImageNet weights (from scratch or --weights FILE)."
    )
    return build


for _name, (_w, _d, _size, _) in LITE_VARIANTS.items():
    register_model(
        _name, default_size=_size, min_size=32, family="efficientnet_lite",
        stats=STATS.get(_name),
    )(_lite_builder(_name))  # fmt: skip
