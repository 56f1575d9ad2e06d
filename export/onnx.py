"""ONNX via tf2onnx: fp32, fp16, or int8 in TensorRT's explicit Q/DQ form; registry entry.

- fp16: onnxruntime's float16 converter (float32 input and output kept),
  then topologically sorted (the converter appends its Casts at the end,
  which ``check_model(full_check=True)`` and TensorRT refuse).
- int8: onnxruntime's static quantizer, calibrated on training images:
  per-channel symmetric int8 weights, symmetric int8 activations, float
  biases (``QuantizeBias: False``: TensorRT refuses an int32 bias behind a
  DequantizeLinear). A QAT model's own fake-quant pairs are removed first and
  their trained ranges handed to the quantizer (``TensorQuantOverrides``).

Every file gets only the opset imports its nodes use, and the metadata JSON
in ``metadata_props``. The file is also the input of the TensorRT engine build.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np

from kerasvision.artifacts import METADATA_KEY, ModelInfo
from kerasvision.errors import KVError
from kerasvision.export.checks import ONNX_CHECKS
from kerasvision.export.deepstream import write_deepstream
from kerasvision.export.format import ExportJob, Format, ModelTraits
from kerasvision.export.options import ExportOptions
from kerasvision.export.qdq import drop_fake_quant, prune_opsets
from kerasvision.fileio import atomic_path

INPUT_NAME = "image"
PER_CHANNEL_OPSET = 13  # per-channel QuantizeLinear (an ``axis``) needs opset 13


def keras_to_onnx(model, opset: int = 17):
    """Converts a Keras model to an ``onnx.ModelProto`` with a dynamic batch dimension."""
    import tf2onnx

    from kerasvision.backend import tf

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME)
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=[spec], opset=opset)
    except Exception as error:  # tf2onnx raises many types
        raise KVError(f"ONNX conversion failed: {str(error).strip().splitlines()[0]}") from error
    unconverted = unknown_ops(proto)
    if unconverted:  # tf2onnx logs these and returns a graph no runtime can load
        raise KVError(
            f"ONNX conversion failed: tf2onnx cannot convert the TensorFlow op(s) "
            f"{', '.join(unconverted)} of {model.name}"
        )
    return proto


def unknown_ops(proto) -> list[str]:
    """The op types of ``proto`` that no ONNX opset defines (TensorFlow ops left as they were)."""
    from onnx import defs

    found = {(n.op_type, n.domain) for n in proto.graph.node}
    return sorted(op for op, domain in found if not defs.has(op, domain or ""))


def to_float16(proto, keep_qdq: bool = False):
    """An fp16 copy, float32 input and output kept, nodes in topological order.

    Args:
        proto: The fp32 ``onnx.ModelProto``.
        keep_qdq: Keep QuantizeLinear/DequantizeLinear in float32 (a QAT
            model's fake-quant nodes take float32 only before opset 19).
            Defaults to False.

    Returns:
        The fp16 ``onnx.ModelProto``.
    """
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    blocked = list(DEFAULT_OP_BLOCK_LIST)
    if keep_qdq:
        blocked += ["QuantizeLinear", "DequantizeLinear"]
    half = convert_float_to_float16(proto, keep_io_types=True, op_block_list=blocked)
    graph = OnnxModel(half)
    graph.topological_sort()
    return graph.model


class _Calibration:
    """Feeds calibration images to onnxruntime's quantizer one batch at a time."""

    def __init__(self, images: np.ndarray, batch: int = 16):
        self.batches = iter([images[i : i + batch] for i in range(0, len(images), batch)])

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {INPUT_NAME: batch.astype(np.float32)}


def to_int8(proto, calibration: np.ndarray, ranges: dict[str, tuple[float, float]] | None = None):
    """Statically quantizes an ONNX model to TensorRT-style int8 Q/DQ.

    Args:
        proto: The fp32 ``onnx.ModelProto`` (without fake-quant nodes).
        calibration: Raw-pixel images that set the activation ranges.
        ranges: Known ``(rmin, rmax)`` of tensors (a QAT model's trained
            ranges), used instead of the calibrated ones. Defaults to None.

    Returns:
        The int8 ``onnx.ModelProto``.
    """
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
        names = {v.name for v in onnx.load(str(prepared)).graph.value_info}
        overrides = {
            name: [{"rmin": np.float32(low), "rmax": np.float32(high)}]
            for name, (low, high) in (ranges or {}).items()
            if name in names
        }
        quantize_static(
            str(prepared),
            str(target),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            extra_options={
                "ActivationSymmetric": True,
                "WeightSymmetric": True,
                "QuantizeBias": False,
                "TensorQuantOverrides": overrides,
            },
        )
        return onnx.load(str(target))


def set_metadata(proto, info: ModelInfo) -> None:
    """Stores the metadata JSON (and the labels alone) in ``metadata_props``."""
    del proto.metadata_props[:]
    for key, value in ((METADATA_KEY, info.to_json()), ("labels", json.dumps(info.labels))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def read_info(path: Path | io.BytesIO) -> ModelInfo | None:
    """The ``ModelInfo`` in an ONNX file's (or its bytes') ``metadata_props``, or None."""
    import onnx

    source = path if isinstance(path, io.BytesIO) else str(path)
    model = onnx.load(source, load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return ModelInfo.from_json(prop.value)
    return None


def convert(model, job: ExportJob):
    """The ``onnx.ModelProto`` of ``model`` at ``job.precision``, metadata set."""
    proto = keras_to_onnx(model, job.options.opset)
    if job.precision == "fp16":
        proto = to_float16(proto, keep_qdq=job.traits.quantized)
    elif job.precision == "int8":
        if job.calibration is None or len(job.calibration) == 0:
            raise KVError("int8 ONNX needs calibration images")
        ranges = {}
        if job.traits.quantized:
            proto, ranges = drop_fake_quant(proto)
        proto = to_int8(proto, job.calibration, ranges)
    prune_opsets(proto)
    set_metadata(proto, job.info.replace(format="onnx", precision=job.precision))
    return proto


def export(model, path: Path, job: ExportJob) -> Path:
    """Writes ``model`` as an ``.onnx`` file with its labels in ``metadata_props``.

    Args:
        model: The Keras model.
        path: The ``.onnx`` file to write.
        job: Precision (fp32, fp16, int8 Q/DQ), metadata, calibration, opset.

    Returns:
        ``path``.
    """
    import onnx

    proto = convert(model, job)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


def refuse(precision: str, traits: ModelTraits, options: ExportOptions) -> str | None:
    """Why ``precision`` cannot be made as ONNX for this model, or None."""
    if (precision == "int8" or traits.quantized) and options.opset < PER_CHANNEL_OPSET:
        what = "a QAT model's" if traits.quantized else "int8"
        need = f"per-channel QuantizeLinear needs opset >= {PER_CHANNEL_OPSET}"
        return f"{what} {need}, got {options.opset}"
    return None


def missing() -> str | None:
    """Why ONNX files cannot be written here, or None."""
    import importlib.util

    for module in ("tf2onnx", "onnx", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install tf2onnx onnx onnxruntime)"
    return None


def _predictor(path: Path, info: ModelInfo, threads: int | None = None):
    from kerasvision.predictor import ONNXPredictor

    return ONNXPredictor(path, info, threads)


FORMAT = Format(
    name="onnx",
    suffixes=(".onnx",),
    precisions=("fp32", "fp16", "int8"),
    runtime="onnxruntime",
    predictor=_predictor,
    read_info=read_info,
    export=export,
    options={"calib": ("int8",), "opset": ("fp32", "fp16", "int8")},
    checks=ONNX_CHECKS,
    companions=(write_deepstream,),
    missing=missing,
    refuse=refuse,
)
