"""Pieces every built-in model shares: the input normalization and the classifier."""

from __future__ import annotations

from kerasvision.backend import keras


def pixels_input(input_shape: tuple[int, int, int]):
    """The model input: raw pixels 0-255 as float32."""
    return keras.Input(shape=input_shape, name="image")


def scale_to_unit(x, name: str = "normalize"):
    """Maps raw pixels 0-255 to [-1, 1] inside the model."""
    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=name)(x)


def classifier(x, num_classes: int, dropout: float = 0.0):
    """Dropout (optional), the ``logits`` Dense layer and a float32 softmax ``probs``.

    The logits layer is named so that distillation can reach it; the softmax is
    float32 even under mixed precision.
    """
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probs")(x)


def check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
