"""TFLite / LiteRT: conversion (fp32, fp16, dynamic range, full int8), standard metadata, entry.

``to_tflite`` converts a Keras model to a flatbuffer at one of four precisions:

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
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kerasvision.artifacts import ModelInfo
from kerasvision.errors import KVError
from kerasvision.export.format import ExportJob, Format
from kerasvision.export.mediapipe_check import TFLITE_CHECKS
from kerasvision.export.options import IO_TYPES, PRECISIONS
from kerasvision.export.rgb_input import as_input, mobile_input
from kerasvision.export.tflite_metadata import read_info, write_metadata
from kerasvision.fileio import atomic_path

TFLITE_PRECISIONS = PRECISIONS


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
    from kerasvision.backend import tf
    from kerasvision.compress.pruning import strip

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


def export(model, path: Path, job: ExportJob) -> Path:
    """Writes ``model`` as a ``.tflite`` file with its labels and input spec inside.

    Int8 files take and return ``job.options.io_type``; other precisions keep float32.

    Args:
        model: The Keras model.
        path: The ``.tflite`` file to write.
        job: Precision, metadata, calibration images and options.

    Returns:
        ``path``.
    """
    io = job.options.io_type if job.precision == "int8" else "float32"
    model, info = mobile_input(model, job.info, job.options.input_channels)
    calibration = job.calibration
    if calibration is not None:
        calibration = as_input(calibration, info.input_shape[-1])
    data = to_tflite(model, job.precision, calibration=calibration, io_type=io)
    info = info.replace(format="tflite", precision=job.precision, input_dtype=io)
    with atomic_path(path) as tmp:
        tmp.write_bytes(write_metadata(data, info))
    return path


def _predictor(path: Path, info: ModelInfo, threads: int | None = None):
    from kerasvision.predictor import TFLitePredictor

    return TFLitePredictor(path, info, threads)


FORMAT = Format(
    name="tflite",
    suffixes=(".tflite",),
    precisions=TFLITE_PRECISIONS,
    runtime="LiteRT",
    predictor=_predictor,
    read_info=read_info,
    export=export,
    options={"calib": ("int8",), "io_type": ("int8",), "input_channels": TFLITE_PRECISIONS},
    checks=TFLITE_CHECKS,
)
