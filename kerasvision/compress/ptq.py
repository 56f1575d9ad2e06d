"""Post-training quantization: calibration images, and the TFLite converter.

``to_tflite`` (fp32, fp16, dynamic range or full int8 TFLite) lives with the
TFLite format in ``kerasvision.export.tflite``; it is re-exported here for the
compression code and benchmarks that quantize without exporting.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kerasvision.errors import KVError
from kerasvision.export.options import IO_TYPES
from kerasvision.export.tflite import TFLITE_PRECISIONS, to_tflite

__all__ = ["IO_TYPES", "TFLITE_PRECISIONS", "calibration_images", "to_tflite"]


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
