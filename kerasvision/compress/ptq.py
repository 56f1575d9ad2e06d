"""Post-training quantization with the TFLite converter.

One function, ``to_tflite``, converts a Keras model to a TFLite flatbuffer at
one of four precisions:

| precision | weights | activations | needs calibration images |
| --- | --- | --- | --- |
| ``fp32`` | float32 | float32 | no |
| ``fp16`` | float16 | float32 | no |
| ``dynamic`` | int8 | float32 (int8 matmuls at run time) | no |
| ``int8`` | int8 | int8 (full integer) | yes |

A quantization-aware (QAT) model carries its own ranges; ``int8`` then uses
the calibration images only to quantize the model's input and output.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator

import numpy as np

from kerasvision.backend import tf
from kerasvision.compress.pruning import strip
from kerasvision.errors import KVError

TFLITE_PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
IO_TYPES = ("float32", "uint8", "int8")


def calibration_images(batches: Iterable, count: int = 300) -> np.ndarray:
    """Draws the first ``count`` images from a dataset of ``(images, labels)`` batches.

    Args:
        batches: A ``tf.data.Dataset`` (or any iterable) of ``(images, labels)``
            or of image batches, as the pipeline's train split yields them.
        count: How many images to keep. Defaults to 300.

    Returns:
        A float32 array ``(n, H, W, C)`` of raw 0-255 pixels, ``n <= count``.
    """
    if count < 1:
        raise KVError(f"the number of calibration images must be at least 1, got {count}")
    kept, total = [], 0
    for batch in batches:
        images = batch[0] if isinstance(batch, tuple | list) else batch
        images = np.asarray(images, dtype=np.float32)
        kept.append(images[: count - total])
        total += len(kept[-1])
        if total >= count:
            break
    if not kept:
        raise KVError("no calibration images: the dataset is empty")
    return np.concatenate(kept)


def _representative(images: np.ndarray) -> Iterator[list[np.ndarray]]:
    for image in images:
        yield [image[None].astype(np.float32)]


def to_tflite(
    model,
    precision: str = "fp32",
    *,
    calibration: np.ndarray | None = None,
    io_type: str = "float32",
) -> bytes:
    """Converts a Keras model to a TFLite flatbuffer.

    Args:
        model: A Keras model (plain, pruned, or QAT-annotated); pruning
            wrappers are stripped first.
        precision: One of ``fp32``, ``fp16``, ``dynamic`` or ``int8``.
            Defaults to ``"fp32"``.
        calibration: Raw-pixel images ``(n, H, W, C)`` that set the int8
            activation ranges; required for ``int8``, ignored otherwise.
            Defaults to None.
        io_type: The input and output type of an ``int8`` model: ``float32``
            (quantize inside the model), ``uint8`` or ``int8``. Other
            precisions keep float32 I/O. Defaults to ``"float32"``.

    Returns:
        The ``.tflite`` file's bytes.

    Raises:
        KVError: For an unknown precision or I/O type, missing calibration
            images, or a model the converter rejects.
    """
    if precision not in TFLITE_PRECISIONS:
        raise KVError(f"unknown TFLite precision '{precision}'; choose from {TFLITE_PRECISIONS}")
    if io_type not in IO_TYPES:
        raise KVError(f"unknown TFLite I/O type '{io_type}'; choose from {IO_TYPES}")
    if io_type != "float32" and precision != "int8":
        raise KVError(f"{io_type} input/output needs int8 precision, not {precision}")
    # Pruning wrappers multiply kernel by mask at run time; strip them (tfmot's
    # strip_pruning) so the converter sees sparse constant kernels.
    converter = tf.lite.TFLiteConverter.from_keras_model(strip(model))
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise KVError("int8 quantization needs calibration images")
        converter.representative_dataset = lambda: _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_type != "float32":
            converter.inference_input_type = getattr(tf, io_type)
            converter.inference_output_type = getattr(tf, io_type)
    try:
        with warnings.catch_warnings():  # int8: "Statistics for quantized inputs were expected"
            warnings.simplefilter("ignore", UserWarning)
            return converter.convert()
    except Exception as error:  # the converter raises many types, all with a long message
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise KVError(f"TFLite {precision} conversion failed: {first}") from error
