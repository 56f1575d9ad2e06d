"""Post-training quantization: the TFLite converter, re-exported for the compression API.

``to_tflite`` (fp32, fp16, dynamic range or full int8 TFLite) lives with the
TFLite format in ``kerasvision.export.tflite``; calibration images come from
``kerasvision.heldout.calibration_images``, the sampler ``kv export`` uses.
"""

from __future__ import annotations

from kerasvision.export.options import IO_TYPES
from kerasvision.export.tflite import TFLITE_PRECISIONS, to_tflite

__all__ = ["IO_TYPES", "TFLITE_PRECISIONS", "to_tflite"]
