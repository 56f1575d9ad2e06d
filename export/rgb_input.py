"""RGB input for mobile formats: a grayscale model takes RGB and converts it inside.

MediaPipe Tasks and the TFLite Task Library feed only RGB(A) images ("The input
tensor should have dimensions 1 x height x width x depth, where depth = 3 or
4"). ``mobile_input`` therefore puts ``tf.image.rgb_to_grayscale`` (ITU-R 601
luma: 0.2989 R + 0.5870 G + 0.1140 B) in front of a 1-channel model, so the
exported file takes ``H x W x 3`` pixels 0-255 and gives the same classes as
the model on the gray image. ``input_channels=1`` keeps the raw 1-channel
input, for apps that feed gray bytes themselves (MediaPipe cannot load it).
The rule is recorded in the artifact's ``ModelInfo``: ``input_shape``,
``preprocessing`` and ``extra["input_channels"]`` (``"rgb_to_gray"``,
``"gray"`` or ``"rgb"``).
"""

from __future__ import annotations

import numpy as np

from kerasvision.artifacts import ModelInfo
from kerasvision.backend import keras, tf
from kerasvision.errors import KVError, bad_value

INPUT_CHANNELS = (1, 3)
RGB_TO_GRAY_RULE = (
    "RGB pixels 0-255, resized to the input size, layout NHWC; converted to grayscale inside "
    "the model (ITU-R 601: 0.2989 R + 0.5870 G + 0.1140 B); no normalization: it is inside "
    "the model"
)
GRAY_RULE = (
    "grayscale pixels 0-255 (1 channel), resized to the input size, layout NHWC; "
    "no normalization: it is inside the model"
)
RGB_RULE = (
    "RGB pixels 0-255, resized to the input size, layout NHWC; "
    "no normalization: it is inside the model"
)


def luma_kernel() -> tf.Tensor:
    """``tf.image.rgb_to_grayscale``'s weights as a 1x1 convolution kernel ``(1, 1, 3, 1)``.

    They are read from TensorFlow (the grayscale of pure red, green and
    blue), not typed in here, and scaled to sum to 1: TensorFlow's rounded
    ITU-R 601 weights sum to 0.9999, which would dim a gray image given as
    RGB by 0.01% instead of passing it through unchanged.
    """
    weights = tf.image.rgb_to_grayscale(tf.eye(3))
    return tf.reshape(weights / tf.reduce_sum(weights), (1, 1, 3, 1))


@keras.utils.register_keras_serializable(package="kerasvision")
class RGBToGray(keras.layers.Layer):
    """``tf.image.rgb_to_grayscale`` as a layer: ``(N, H, W, 3)`` -> ``(N, H, W, 1)``.

    Computed as a 1x1 convolution with ``luma_kernel()``: the same sums as
    ``rgb_to_grayscale``'s ``tensordot``, but one ``CONV_2D`` in the TFLite
    file (int8 like any convolution, and on every GPU delegate) instead of a
    reshape-matmul-reshape with dynamic-shape ops around it.
    """

    def call(self, images):
        return tf.nn.conv2d(images, luma_kernel(), strides=1, padding="VALID")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


def model_channels(model) -> int:
    """The number of channels of ``model``'s image input."""
    return int(model.input_shape[-1])


def rgb_input_model(model) -> keras.Model:
    """``model`` (1-channel input) behind an RGB input and an ``RGBToGray`` layer.

    Args:
        model: A Keras model taking ``(N, H, W, 1)`` pixels 0-255; plain,
            pruned (stripped) or QAT (``quantize_apply``'d).

    Returns:
        A model taking ``(N, H, W, 3)`` RGB pixels 0-255, with ``model`` nested
        inside (its weights shared, not copied).

    Raises:
        KVError: When ``model`` does not take 1 channel.
    """
    if model_channels(model) != 1:
        raise KVError(
            f"an RGB input wraps a 1-channel model; {model.name} takes "
            f"{model_channels(model)} channels"
        )
    height, width = model.input_shape[1:3]
    inputs = keras.Input((height, width, 3), name="image")
    gray = RGBToGray(name="rgb_to_gray")(inputs)
    return keras.Model(inputs, model(gray, training=False), name=f"{model.name}_rgb")


def mobile_input(
    model, info: ModelInfo, input_channels: int | None = None
) -> tuple[keras.Model, ModelInfo]:
    """The model and metadata a mobile file (TFLite) is exported from.

    Args:
        model: The Keras model to export.
        info: Its metadata (``input_shape`` is the model's own).
        input_channels: ``3``: the file takes RGB (a 1-channel model gets its
            RGB->gray step inside); ``1``: a 1-channel model keeps its raw gray
            input (MediaPipe cannot load such a file); None: 3. Defaults to None.

    Returns:
        ``(model, info)`` to export: the wrapped model or ``model`` itself, and
        ``info`` with the file's input shape, preprocessing rule and
        ``extra["input_channels"]``.

    Raises:
        KVError: For a channel count other than 1 or 3, or 1 for an RGB model.
    """
    wanted = 3 if input_channels is None else input_channels
    if wanted not in INPUT_CHANNELS:
        raise bad_value("input_channels", f"must be 1 or 3, got {input_channels}")
    height, width = info.input_shape[:2]
    have = model_channels(model)
    if have == 3 and wanted == 1:
        raise bad_value("input_channels", f"1 needs a grayscale model; {model.name} takes RGB")
    if have == 1 and wanted == 3:
        extra = {**info.extra, "input_channels": "rgb_to_gray"}
        wrapped = info.replace(input_shape=[height, width, 3], preprocessing=RGB_TO_GRAY_RULE)
        return rgb_input_model(model), wrapped.replace(extra=extra)
    rule, name = (GRAY_RULE, "gray") if have == 1 else (RGB_RULE, "rgb")
    return model, info.replace(preprocessing=rule, extra={**info.extra, "input_channels": name})


def as_input(images: np.ndarray, channels: int) -> np.ndarray:
    """Gray images as the RGB a camera gives (the gray value in R, G and B), or unchanged.

    Args:
        images: ``(N, H, W, 1)`` or ``(N, H, W, 3)`` pixels.
        channels: The channels the file takes (its ``info.input_shape[-1]``).

    Returns:
        ``images`` with ``channels`` channels.
    """
    if images.shape[-1] == channels:
        return images
    if images.shape[-1] == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    raise KVError(f"cannot feed {images.shape[-1]}-channel images to a {channels}-channel input")
