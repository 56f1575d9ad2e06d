"""The table of ``keras.applications`` families that ``applications.py`` registers.

One row per registered name: the Keras factory, sizes, the normalization its
ImageNet weights expect, the no-top weights file Keras downloads, its int8
family, and cached parameter and FLOP counts (``ModelStats``, at the default
size, checked against the built models by ``tests/test_model_table.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from kerasvision.models.cached_stats import STATS
from kerasvision.models.registry import ModelStats

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _mobilenet_v1_width(width: float) -> str:
    return {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(width, "2_5")


@dataclass(frozen=True)
class Family:
    """One registered ``keras.applications`` model.

    Attributes:
        name: Registered name.
        title: Human name, for the description.
        factory: Attribute of ``keras.applications``.
        default_size: Its ImageNet input size.
        min_size: The smallest input Keras builds it at.
        normalization: A key of ``applications.NORMALIZATIONS``, or
            ``efficientnet`` (normalized inside the Keras model).
        weights_url: The no-top ImageNet file Keras downloads; ``{width}`` and
            ``{size}`` are filled in for the MobileNets.
        int8: Its family in ``kerasvision.models.int8.FAMILIES``.
        stats: Cached parameters and FLOPs at ``default_size``.
        dropout: Default dropout before the classifier.
        first_conv: The conv whose input channels are reversed once, because
            the (Caffe) ImageNet weights expect BGR. None for RGB weights.
        keras_preprocessing: Whether the factory takes ``include_preprocessing``
            (set False: the model's ``normalize`` layer does the same).
        width_text: For families with a width multiplier (``alpha``): how the
            weights file spells a width. None when there is no width option.
        widths: Widths with ImageNet weights (empty: any).
        weights_sizes: Input sizes with their own weights file (others use 224).
        weights_file: The name Keras saves the file under, when it is not the
            URL's (NASNet).
    """

    name: str
    title: str
    factory: str
    default_size: int
    min_size: int
    normalization: str
    weights_url: str
    int8: str
    stats: ModelStats | None = None
    dropout: float = 0.0
    first_conv: str | None = None
    keras_preprocessing: bool = False
    width_text: Callable[[float], str] | None = None
    widths: tuple[float, ...] = ()
    weights_sizes: tuple[int, ...] = ()
    weights_file: str | None = None


def _kernels(name: str, folder: str) -> str:
    return f"{_KA}{folder}/{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _rows() -> list[Family]:
    rows = [
        Family("vgg16", "VGG-16", "VGG16", 224, 32, "caffe", _kernels("vgg16", "vgg16"),
               "relu_bn", first_conv="block1_conv1"),
        Family("vgg19", "VGG-19", "VGG19", 224, 32, "caffe", _kernels("vgg19", "vgg19"),
               "relu_bn", first_conv="block1_conv1"),
    ]  # fmt: skip
    for depth in (50, 101, 152):
        rows.append(
            Family(f"resnet{depth}", f"ResNet-{depth}", f"ResNet{depth}", 224, 32, "caffe",
                   _kernels(f"resnet{depth}", "resnet"), "relu_bn", first_conv="conv1_conv")
        )  # fmt: skip
    for depth in (50, 101, 152):
        rows.append(
            Family(f"resnet{depth}_v2", f"ResNet-{depth} V2", f"ResNet{depth}V2", 224, 32,
                   "tf", _kernels(f"resnet{depth}v2", "resnet"), "relu_bn")
        )  # fmt: skip
    rows += [
        Family("inception_v3", "Inception-V3", "InceptionV3", 299, 75, "tf",
               _kernels("inception_v3", "inception_v3"), "relu_bn"),
        Family("inception_resnet_v2", "Inception-ResNet-V2", "InceptionResNetV2", 299, 75,
               "tf", _kernels("inception_resnet_v2", "inception_resnet_v2"), "relu_bn"),
        Family("xception", "Xception", "Xception", 299, 71, "tf",
               _kernels("xception", "xception"), "relu_bn"),
        Family("densenet121", "DenseNet-121", "DenseNet121", 224, 32, "torch",
               _kernels("densenet121", "densenet"), "relu_bn"),
        Family("mobilenet", "MobileNet (V1)", "MobileNet", 224, 32, "tf",
               _KA + "mobilenet/mobilenet_{width}_{size}_tf_no_top.h5", "relu_bn",
               dropout=0.2, width_text=_mobilenet_v1_width, widths=(0.25, 0.5, 0.75, 1.0),
               weights_sizes=(128, 160, 192, 224)),
        Family("mobilenet_v2", "MobileNetV2", "MobileNetV2", 224, 32, "tf",
               _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
               "{width}_{size}_no_top.h5", "relu_bn", dropout=0.2,
               width_text=lambda w: str(float(w)), widths=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
               weights_sizes=(96, 128, 160, 192, 224)),
    ]  # fmt: skip
    for size in ("small", "large"):
        rows.append(
            Family(f"mobilenet_v3_{size}", f"MobileNetV3-{size.capitalize()}",
                   f"MobileNetV3{size.capitalize()}", 224, 32, "tf",
                   _KA + f"mobilenet_v3/weights_mobilenet_v3_{size}_224_{{width}}"
                   "_float_no_top_v2.h5", "mobilenet_v3", dropout=0.2,
                   keras_preprocessing=True, width_text=lambda w: str(float(w)),
                   widths=(0.75, 1.0))
        )  # fmt: skip
    for index, size in enumerate((224, 240, 260, 300, 380, 456, 528, 600)):
        rows.append(
            Family(f"efficientnet_b{index}", f"EfficientNet-B{index}", f"EfficientNetB{index}",
                   size, 32, "efficientnet",
                   f"https://storage.googleapis.com/keras-applications/efficientnetb{index}"
                   "_notop.h5", "efficientnet", dropout=0.2)
        )  # fmt: skip
    for variant, size in (("b0", 224), ("b1", 240), ("b2", 260), ("b3", 300), ("s", 384)):
        rows.append(
            Family(f"efficientnet_v2_{variant}", f"EfficientNetV2-{variant.upper()}",
                   f"EfficientNetV2{variant.upper()}", size, 32,
                   "torch" if variant.startswith("b") else "minus_one_128",
                   f"{_KA}efficientnet_v2/efficientnetv2-{variant}_notop.h5",
                   "efficientnet_v2", dropout=0.2, keras_preprocessing=True)
        )  # fmt: skip
    rows += [
        Family("convnext_tiny", "ConvNeXt-Tiny", "ConvNeXtTiny", 224, 32, "torch",
               _KA + "convnext/convnext_tiny_notop.h5", "convnext", keras_preprocessing=True),
        Family("nasnet_mobile", "NASNet-Mobile", "NASNetMobile", 224, 32, "tf",
               _KA + "nasnet/NASNet-mobile-no-top.h5", "relu_bn",
               weights_file="nasnet_mobile_no_top.h5"),
    ]  # fmt: skip
    return rows


FAMILIES: dict[str, Family] = {f.name: replace(f, stats=STATS.get(f.name)) for f in _rows()}
