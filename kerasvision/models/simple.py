"""Small convolutional baselines: ``simple_cnn`` and the test-sized ``tiny_cnn``."""

from __future__ import annotations

from kerasvision.backend import keras
from kerasvision.models.heads import check_dropout, classifier, pixels_input, scale_to_unit
from kerasvision.models.registry import register_model


def _conv_bn_relu(x, filters: int, name: str):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


@register_model()
def simple_cnn(
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    width: float = 1.0,
    dropout: float = 0.3,
):
    """Four conv-BN-ReLU layers, two pools and a dense layer: the baseline.

    Args:
        num_classes: Number of classes.
        input_shape: ``(height, width, channels)``; at least 8x8.
        width: Multiplier of every layer's width (32, 64 filters and 128
            dense units at 1.0); 0.25 makes a ~5k-parameter student.
            Defaults to 1.0.
        dropout: Dropout before the classifier. Defaults to 0.3.

    Returns:
        A ``keras.Model`` named ``simple_cnn``.
    """
    check_dropout(dropout)
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    inputs = pixels_input(input_shape)
    x = scale_to_unit(inputs)
    for stage, filters in enumerate((32, 64), start=1):
        filters = max(4, round(filters * width))
        x = _conv_bn_relu(x, filters, f"stage{stage}_block1")
        x = _conv_bn_relu(x, filters, f"stage{stage}_block2")
        x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dense(max(8, round(128 * width)), activation="relu", name="fc")(x)
    outputs = classifier(x, num_classes, dropout)
    return keras.Model(inputs, outputs, name="simple_cnn")


@register_model()
def tiny_cnn(*, num_classes: int, input_shape: tuple[int, int, int]):
    """One conv, global pooling and a classifier: for tests and smoke runs."""
    inputs = pixels_input(input_shape)
    x = scale_to_unit(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = classifier(x, num_classes)
    return keras.Model(inputs, outputs, name="tiny_cnn")
