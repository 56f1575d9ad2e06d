"""ONNX export via tf2onnx: fp32, fp16, or int8 with explicit Q/DQ nodes.

The int8 file is quantized by onnxruntime's static quantizer, calibrated on
training images, with symmetric int8 activations and per-channel weights
(what TensorRT's explicit quantization expects). This ONNX is also the input
of the TensorRT engine build.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from kerasvision.artifacts import METADATA_KEY, ModelInfo
from kerasvision.backend import tf
from kerasvision.errors import KVError
from kerasvision.fileio import atomic_path

INPUT_NAME = "image"


def keras_to_onnx(model, opset: int = 17):
    """Converts a Keras model to an ``onnx.ModelProto`` with a dynamic batch dimension."""
    import tf2onnx

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME)
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=[spec], opset=opset)
    except Exception as error:  # tf2onnx raises many types
        raise KVError(f"ONNX conversion failed: {str(error).strip().splitlines()[0]}") from error
    return proto


def to_float16(proto):
    """An fp16 copy of an ONNX model that keeps float32 inputs and outputs."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(proto, keep_io_types=True)


class _Calibration:
    """Feeds calibration images to onnxruntime's quantizer one batch at a time."""

    def __init__(self, images: np.ndarray, batch: int = 16):
        self.batches = iter([images[i : i + batch] for i in range(0, len(images), batch)])

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {INPUT_NAME: batch.astype(np.float32)}


def to_int8(proto, calibration: np.ndarray):
    """Statically quantizes an ONNX model to int8 Q/DQ, calibrated on ``calibration``."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = type("Reader", (_Calibration, CalibrationDataReader), {})(calibration)
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        onnx.save(proto, str(source))
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
        return onnx.load(str(target))


def set_metadata(proto, info: ModelInfo) -> None:
    """Stores the metadata JSON (and the labels alone) in ``metadata_props``."""
    del proto.metadata_props[:]
    for key, value in ((METADATA_KEY, info.to_json()), ("labels", json.dumps(info.labels))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def export_onnx(
    model,
    path: Path,
    *,
    precision: str,
    info: ModelInfo,
    calibration: np.ndarray | None = None,
    opset: int = 17,
) -> Path:
    """Writes ``model`` as an ``.onnx`` file with its labels in ``metadata_props``.

    Args:
        model: The Keras model.
        path: The ``.onnx`` file to write.
        precision: ``fp32``, ``fp16`` or ``int8`` (Q/DQ).
        info: Labels and input shape.
        calibration: Raw-pixel images for int8. Defaults to None.
        opset: ONNX opset. Defaults to 17.

    Returns:
        ``path``.
    """
    import onnx

    proto = keras_to_onnx(model, opset)
    if precision == "fp16":
        proto = to_float16(proto)
    elif precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise KVError("int8 ONNX needs calibration images")
        proto = to_int8(proto, calibration)
    set_metadata(proto, info.replace(format="onnx", precision=precision))
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path
