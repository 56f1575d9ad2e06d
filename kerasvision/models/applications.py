"""ImageNet architectures from ``keras.applications``: ``resnet50``, ``mobilenet_v2``.

The backbone is a nested model named ``backbone`` so training can freeze it for
a first phase and fine-tune it after (see ``kerasvision.training``). With
pretrained weights it always runs its batch normalization in inference mode,
as the Keras transfer-learning guide recommends.
"""

from __future__ import annotations

from pathlib import Path

from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.models.heads import check_dropout, classifier, pixels_input, scale_to_unit
from kerasvision.models.registry import register_model

_MOBILENET_WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
# ImageNet RGB means of the Caffe-style ResNet50 weights (their std is 1).
_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


def _check_weights(weights: str, input_shape: tuple[int, int, int], model: str) -> None:
    if weights in ("none", "imagenet"):
        if weights == "imagenet" and input_shape[-1] != 3:
            raise KVError(f"{model} with ImageNet weights needs 3 channels, got {input_shape[-1]}")
        return
    if not Path(weights).is_file():
        raise KVError(f"--weights must be none, imagenet or a weights file; not found: {weights}")
    if input_shape[-1] != 3:
        raise KVError(f"{model} with pretrained weights needs 3 channels, got {input_shape[-1]}")


def _build_backbone(factory, weights: str, model: str, **kwargs):
    """Calls a ``keras.applications`` factory, loading ``weights`` and failing clearly."""
    keras_weights = "imagenet" if weights == "imagenet" else None
    try:
        backbone = factory(include_top=False, weights=keras_weights, pooling="avg", **kwargs)
    except Exception as exc:  # keras raises bare Exception on a failed download
        if keras_weights is None:
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KVError(
            f"could not download ImageNet weights for {model} ({first}); download the file on "
            f"a machine with internet and pass --weights PATH, or use --weights none"
        ) from None
    if weights not in ("none", "imagenet"):
        try:
            backbone.load_weights(weights)
        except (OSError, ValueError) as exc:
            raise KVError(f"cannot load weights from {weights} into {model}: {exc}") from None
    backbone._name = "backbone"
    return backbone


@register_model(default_size=224, pretrained=True)
def resnet50(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    weights: str = "none",
    dropout: float = 0.0,
):
    """ResNet-50 (keras.applications), new head; ImageNet weights optional.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, 3)``, at least 32x32.
        weights: ``none``, ``imagenet`` (downloaded by Keras) or the path of a
            Keras ResNet50 no-top weights file (``.h5``). Defaults to ``none``.
        dropout: Dropout before the classifier. Defaults to 0.0.
    """
    check_dropout(dropout)
    _check_weights(weights, input_shape, "resnet50")
    backbone = _build_backbone(
        keras.applications.ResNet50, weights, "resnet50", input_shape=input_shape
    )
    pretrained = weights != "none"
    if pretrained:
        # The ImageNet weights expect BGR input; reversing conv1's input channels
        # once lets the model take RGB with no extra op.
        conv1 = backbone.get_layer("conv1_conv")
        kernel, bias = conv1.get_weights()
        conv1.set_weights([kernel[:, :, ::-1, :], bias])
    inputs = pixels_input(input_shape)
    mean = _CAFFE_MEAN_RGB if input_shape[-1] == 3 else (sum(_CAFFE_MEAN_RGB) / 3,)
    x = keras.layers.Normalization(mean=mean, variance=[1.0] * len(mean), name="normalize")(inputs)
    x = backbone(x, training=False) if pretrained else backbone(x)
    outputs = classifier(x, num_classes, dropout)
    return keras.Model(inputs, outputs, name="resnet50")


@register_model(default_size=224, pretrained=True)
def mobilenet_v2(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    width: float = 1.0,
    weights: str = "none",
    dropout: float = 0.2,
):
    """MobileNetV2 (keras.applications) with a width multiplier, for phones.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, channels)``, at least 32x32; ImageNet
            weights exist for 96, 128, 160, 192 and 224.
        width: Width multiplier ``alpha``; with ImageNet weights one of 0.35,
            0.5, 0.75, 1.0, 1.3, 1.4. Defaults to 1.0.
        weights: ``none``, ``imagenet`` or the path of a Keras MobileNetV2
            no-top weights file. Defaults to ``none``.
        dropout: Dropout before the classifier. Defaults to 0.2.
    """
    check_dropout(dropout)
    _check_weights(weights, input_shape, "mobilenet_v2")
    if weights != "none" and width not in _MOBILENET_WIDTHS:
        raise KVError(
            f"mobilenet_v2 ImageNet weights exist for width {_MOBILENET_WIDTHS}, got {width}"
        )
    if min(input_shape[:2]) < 32:
        raise KVError(f"mobilenet_v2 needs inputs of at least 32x32, got {input_shape[:2]}")
    backbone = _build_backbone(
        keras.applications.MobileNetV2,
        weights,
        "mobilenet_v2",
        input_shape=input_shape,
        alpha=width,
    )
    inputs = pixels_input(input_shape)
    x = scale_to_unit(inputs)
    x = backbone(x, training=False) if weights != "none" else backbone(x)
    outputs = classifier(x, num_classes, dropout)
    return keras.Model(inputs, outputs, name="mobilenet_v2")
