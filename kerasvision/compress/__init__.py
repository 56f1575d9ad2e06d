"""Compression: post-training quantization, pruning and quantization-aware training."""

from kerasvision.compress.ptq import TFLITE_PRECISIONS, calibration_images, to_tflite

__all__ = ["TFLITE_PRECISIONS", "calibration_images", "to_tflite"]
