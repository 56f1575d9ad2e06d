"""One model of each design exports to fp32 TFLite (matching Keras) and to int8 TFLite and ONNX.

Slow: each builds a real ImageNet architecture at its minimum size and runs
three conversions. Uses ``kerasvision.compress.ptq.to_tflite`` and the ONNX
functions of ``kerasvision.export.onnx`` as they are today.
"""

from __future__ import annotations

import numpy as np
import pytest

from kerasvision.backend import keras
from kerasvision.errors import KVError
from kerasvision.export.onnx import keras_to_onnx, to_int8
from kerasvision.export.tflite import to_tflite
from kerasvision.models import create_model, get_model_spec

REPRESENTATIVES = [
    "vgg16", "resnet50", "inception_v3", "mobilenet_v2", "mobilenet_v3_small",
    "efficientnet_b0", "efficientnet_lite0", "convnext_tiny",
]  # fmt: skip


def _tflite(content: bytes, images: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=2)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], images.astype(inp["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(out["index"])


@pytest.mark.slow
@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_a_representative_exports_to_fp32_and_int8(name):
    import onnxruntime as ort

    size = get_model_spec(name).min_size or 32
    keras.utils.set_random_seed(0)
    model = create_model(name, num_classes=3, input_shape=(size, size, 3))
    images = np.random.default_rng(0).uniform(0, 255, (4, size, size, 3)).astype("float32")
    expected = model.predict(images, verbose=0)

    fp32 = _tflite(to_tflite(model, "fp32"), images)
    np.testing.assert_allclose(fp32, expected, atol=1e-4)

    int8 = _tflite(to_tflite(model, "int8", calibration=images), images)
    assert int8.shape == (4, 3) and np.allclose(int8.sum(axis=1), 1.0, atol=0.05)

    if name == "convnext_tiny":  # tf2onnx 1.17 leaves GELU's Erfc and a PartitionedCall as is
        with pytest.raises(KVError, match="tf2onnx cannot convert the TensorFlow op.*Erfc"):
            keras_to_onnx(model)
        return
    proto = to_int8(keras_to_onnx(model), images)
    assert any(node.op_type == "QuantizeLinear" for node in proto.graph.node)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    probs = session.run(None, {session.get_inputs()[0].name: images})[0]
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=0.05)
