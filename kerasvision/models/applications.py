"""ImageNet architectures from ``keras.applications``: one builder and a table.

Every family in ``FAMILIES`` is registered under its name (``vgg16``,
``resnet50``, ``efficientnet_b0``, ``convnext_tiny``...) by the same builder,
the way ``keras.applications`` builds its variants from one function: the
``keras.applications`` backbone without its top, pooled, as a nested model
named ``backbone`` (so training can freeze it for a first phase and fine-tune
it after, see ``kerasvision.training``), behind the normalization its
ImageNet weights expect and before a new classifier. With pretrained weights
the backbone always runs its batch normalization in inference mode, as the
Keras transfer-learning guide recommends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kerasvision import _compat
from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.models.app_table import FAMILIES, Family
from kerasvision.models.heads import check_dropout, classifier, pixels_input
from kerasvision.models.registry import register_model
from kerasvision.models.weights import check_weights, imagenet_file, load_into

# ImageNet RGB means of the Caffe-style VGG and ResNet weights (their std is 1).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
# The "torch" statistics: ImageNet RGB mean and std of pixels scaled to [0, 1].
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class _Normalization:
    """``x -> (x - mean) / std`` per channel, on raw 0-255 pixels."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


NORMALIZATIONS = {
    # Keras' preprocess_input modes, and the built-in preprocessing of the
    # families that have one (include_preprocessing=True), as mean and std.
    "caffe": _Normalization(CAFFE_MEAN_RGB, (1.0, 1.0, 1.0)),
    "tf": _Normalization((127.5,) * 3, (127.5,) * 3),
    "torch": _Normalization(
        tuple(255 * m for m in TORCH_MEAN_RGB), tuple(255 * s for s in TORCH_STD_RGB)
    ),
    "minus_one_128": _Normalization((128.0,) * 3, (128.0,) * 3),
}


def normalize_layer(kind: str, channels: int):
    """The model's first layer, ``normalize``, for a normalization ``kind``."""
    norm = NORMALIZATIONS[kind]
    mean, std = np.array(norm.mean), np.array(norm.std)
    if channels != 3:  # grayscale from scratch: the channel average
        mean, std = mean.mean(keepdims=True), std.mean(keepdims=True)
    if np.allclose(mean, mean[0]) and np.allclose(std, std[0]):
        return keras.layers.Rescaling(1.0 / std[0], offset=-mean[0] / std[0], name="normalize")
    return keras.layers.Normalization(mean=mean, variance=std**2, name="normalize")


def _weights_url(family: Family, width: float, size: int) -> str:
    """The no-top file Keras would download for ``family`` at ``width`` and ``size``."""
    if family.width_text is None:
        return family.weights_url
    if family.weights_sizes:
        size = size if size in family.weights_sizes else 224
    return family.weights_url.format(width=family.width_text(width), size=size)


def _efficientnet_statistics(backbone) -> None:
    """Sets EfficientNet's built-in Normalization to ImageNet mean and std.

    Keras' EfficientNet (B0-B7) has ``Rescaling(1/255)`` and a
    ``Normalization`` whose weights hold the mean and, by a known quirk, the
    std as the variance; with ImageNet weights Keras then multiplies by
    ``1/sqrt(std)`` in a ``tf.math.multiply`` op. Setting the variance to
    std squared gives the same ``(x - mean) / std`` with no extra op, with or
    without pretrained weights.
    """
    layer = next(x for x in backbone.layers if isinstance(x, keras.layers.Normalization))
    count = layer.get_weights()[2]
    mean = np.array(TORCH_MEAN_RGB, "float32").reshape(layer.get_weights()[0].shape)
    variance = np.array(TORCH_STD_RGB, "float32").reshape(mean.shape) ** 2
    layer.set_weights([mean, variance, count])


def _flip_to_rgb(backbone, conv_name: str) -> None:
    """Reverses the input channels of the first conv: Caffe weights expect BGR."""
    conv = backbone.get_layer(conv_name)
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel[:, :, ::-1, :], bias])


def build_backbone(family: Family, input_shape, weights: str, width: float, name: str):
    """The pooled ``keras.applications`` backbone of ``family``, weights loaded, as ``backbone``."""
    kwargs = {"include_top": False, "weights": None, "pooling": "avg", "input_shape": input_shape}
    if family.width_text is not None:
        kwargs["alpha"] = width
    if family.keras_preprocessing:  # ours is the model's own ``normalize`` layer
        kwargs["include_preprocessing"] = False
    backbone = getattr(keras.applications, family.factory)(**kwargs)
    if weights != "none":
        path = weights
        if weights == "imagenet":
            url = _weights_url(family, width, input_shape[0])
            path = imagenet_file(url, name, family.weights_file)
        load_into(backbone, path, name)
        if family.first_conv:
            _flip_to_rgb(backbone, family.first_conv)
    if family.normalization == "efficientnet":
        _efficientnet_statistics(backbone)
    return _compat.rename(backbone, "backbone")


def build_application(
    family: Family,
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    weights: str = "none",
    dropout: float | None = None,
    width: float = 1.0,
):
    """Builds ``family``: normalize, backbone, classifier (see the module docstring)."""
    dropout = family.dropout if dropout is None else dropout
    check_dropout(dropout)
    check_weights(weights, input_shape, family.name)
    if family.width_text is None and width != 1.0:
        raise KVError(f"model '{family.name}' does not take the option width={width!r}")
    if weights != "none" and family.widths and width not in family.widths:
        raise KVError(
            f"{family.name} ImageNet weights exist for width {family.widths}, got {width}"
        )
    if width <= 0:
        raise KVError(f"width must be positive, got {width}")
    backbone = build_backbone(family, input_shape, weights, width, family.name)
    inputs = pixels_input(input_shape)
    x = inputs
    if family.normalization != "efficientnet":  # EfficientNet B0-B7 normalize inside
        x = normalize_layer(family.normalization, input_shape[-1])(x)
    x = backbone(x, training=False) if weights != "none" else backbone(x)
    outputs = classifier(x, num_classes, dropout)
    return keras.Model(inputs, outputs, name=family.name)


def _fixed(family: Family):
    def build(*, num_classes, input_shape, weights="none", dropout=family.dropout):
        return build_application(
            family, num_classes=num_classes, input_shape=input_shape, weights=weights,
            dropout=dropout,
        )  # fmt: skip

    return build


def _scaled(family: Family):
    def build(*, num_classes, input_shape, width=1.0, weights="none", dropout=family.dropout):
        return build_application(
            family, num_classes=num_classes, input_shape=input_shape, weights=weights,
            dropout=dropout, width=width,
        )  # fmt: skip

    return build


def _register(family: Family) -> None:
    builder = (_fixed if family.width_text is None else _scaled)(family)
    builder.__name__ = builder.__qualname__ = family.name
    builder.__doc__ = (
        f"{family.title} (keras.applications), new head; ImageNet weights optional.\n\n"
        f"Built by ``build_application`` from ``FAMILIES['{family.name}']``."
    )
    register_model(
        family.name,
        default_size=family.default_size,
        pretrained=True,
        min_size=family.min_size,
        family=family.int8,
        stats=family.stats,
    )(builder)


for _family in FAMILIES.values():
    _register(_family)

__all__ = ["FAMILIES", "NORMALIZATIONS", "build_application", "build_backbone"]
