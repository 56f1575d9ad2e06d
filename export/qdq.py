"""ONNX Q/DQ graph edits for TensorRT's explicit quantization.

TensorRT takes an int8 ONNX file only in its explicit-quantization form
(NVIDIA, TensorRT docs, "Working with Quantized Types" / explicit
quantization): symmetric int8 QuantizeLinear/DequantizeLinear (zero point 0),
per-channel weight scales on the output-channel axis, per-tensor activation
scales, and no integer bias behind a DequantizeLinear. These helpers prepare a
graph for onnxruntime's quantizer and tidy its result:

- ``drop_fake_quant``: removes the Q/DQ pairs tf2onnx writes for a QAT
  model's fake-quant nodes (asymmetric uint8, TensorRT refuses them) and
  returns the ranges they held, so that the quantizer reuses them;
- ``prune_opsets``: drops opset imports no node uses;
- ``int_fed_dequantize``: the DequantizeLinear nodes fed by an int32
  initializer (none must remain).
"""

from __future__ import annotations

import numpy as np

_QMIN_QMAX = {np.dtype("uint8"): (0, 255), np.dtype("int8"): (-128, 127)}


def _initializers(proto) -> dict:
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}


def drop_fake_quant(proto) -> tuple[object, dict[str, tuple[float, float]]]:
    """Removes per-tensor activation Q/DQ pairs; returns the graph and their ranges.

    Args:
        proto: An ``onnx.ModelProto`` (edited in place).

    Returns:
        ``(proto, {tensor: (rmin, rmax)})``: the real range each removed pair
        represented, keyed by the tensor it quantized.
    """
    values = _initializers(proto)
    nodes = list(proto.graph.node)
    consumers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in proto.graph.output}
    ranges, rename, dropped = {}, {}, set()
    for quant in (n for n in nodes if n.op_type == "QuantizeLinear"):
        users = consumers.get(quant.output[0], [])
        if len(quant.input) < 3 or not users or any(u.op_type != "DequantizeLinear" for u in users):
            continue
        scale, zero = values.get(quant.input[1]), values.get(quant.input[2])
        if scale is None or zero is None or scale.size != 1 or zero.dtype not in _QMIN_QMAX:
            continue
        if any(u.output[0] in outputs for u in users):
            continue
        low, high = _QMIN_QMAX[zero.dtype]
        s, z = float(scale.ravel()[0]), int(zero.ravel()[0])
        ranges[quant.input[0]] = (s * (low - z), s * (high - z))
        for user in users:
            rename[user.output[0]] = quant.input[0]
            dropped.add(id(user))
        dropped.add(id(quant))
    kept = [n for n in nodes if id(n) not in dropped]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del proto.graph.node[:]
    proto.graph.node.extend(kept)
    return proto, ranges


def prune_opsets(proto) -> None:
    """Drops opset imports (``ai.onnx.ml``, ``com.microsoft``, ...) that no node uses."""
    used = {node.domain or "" for node in proto.graph.node}
    kept = [o for o in proto.opset_import if (o.domain or "") in used or (o.domain or "") == ""]
    del proto.opset_import[:]
    proto.opset_import.extend(kept)


def int_fed_dequantize(proto) -> list[str]:
    """Names of DequantizeLinear nodes whose input is an int32 initializer."""
    import onnx

    int32 = {i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT32}
    return [
        n.name for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in int32
    ]


def asymmetric_quantizers(proto) -> list[str]:
    """Names of Q/DQ nodes with a non-zero or unsigned zero point (TensorRT refuses them)."""
    values = _initializers(proto)
    bad = []
    for node in proto.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zero = values.get(node.input[2])
            if zero is not None and (zero.dtype != np.int8 or np.any(zero != 0)):
                bad.append(node.name)
    return bad
