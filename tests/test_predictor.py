from __future__ import annotations

import shutil

import numpy as np
import pytest

from kerasvision.artifact import artifact_format, load_predictor
from kerasvision.errors import KVError
from kerasvision.heldout import heldout
from kerasvision.run import Run


@pytest.fixture(scope="module")
def held_out(digits_run):
    """The run's 359 validation images (uint8) and their labels."""
    keras_model = load_predictor(digits_run / "model.keras")
    data = heldout(keras_model.input_shape, keras_model.labels, run=Run(digits_run))
    images, labels = zip(*data.batches(), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_keras_tflite_and_onnx_give_the_same_top1(digits_run, digits_exports, held_out):
    images, _ = held_out
    keras_probs = load_predictor(digits_run / "model.keras").predict(images)
    for name in ("fp32.tflite", "fp32.onnx"):
        probs = load_predictor(digits_exports[name], threads=1).predict(images)
        assert probs.shape == keras_probs.shape and probs.dtype == np.float32
        assert np.array_equal(probs.argmax(axis=1), keras_probs.argmax(axis=1)), name
        np.testing.assert_allclose(probs, keras_probs, atol=1e-4)


def test_int8_tflite_takes_raw_pixels_and_returns_probabilities(digits_exports, held_out):
    images, labels = held_out
    predictor = load_predictor(digits_exports["int8.tflite"], threads=1)
    assert predictor.info.precision == "int8" and predictor.info.input_dtype != "float32"
    probs = predictor.predict(images)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.05)
    assert np.mean(probs.argmax(axis=1) == labels) > 0.8


def test_an_exported_file_carries_its_labels_and_input_size_alone(
    digits_run, digits_exports, tmp_path
):
    labels = (digits_run / "labels.txt").read_text().split()
    for name in ("fp32.tflite", "fp32.onnx"):
        alone = shutil.copy(digits_exports[name], tmp_path / f"copy-{name}")
        predictor = load_predictor(alone)
        assert predictor.labels == labels
        assert predictor.input_shape == ((8, 8, 3) if name.endswith("tflite") else (8, 8, 1))
        assert predictor.format == name.split(".")[1]


def test_a_keras_file_outside_a_run_gets_placeholder_labels_unless_given(digits_run, tmp_path):
    alone = shutil.copy(digits_run / "model.keras", tmp_path / "model.keras")
    assert load_predictor(alone).labels == [f"class_{i}" for i in range(10)]
    names = list("abcdefghij")
    assert load_predictor(alone, labels=names).labels == names


def test_wrong_image_shape_is_a_clear_error(digits_exports):
    predictor = load_predictor(digits_exports["fp32.onnx"])
    with pytest.raises(KVError, match=r"takes images of shape \(8, 8, 1\), got \(9, 9, 1\)"):
        predictor.predict(np.zeros((2, 9, 9, 1)))
    rgb = load_predictor(digits_exports["fp32.tflite"])  # gray images are given to it as RGB
    assert rgb.predict(np.zeros((2, 8, 8, 1))).shape == (2, 10)
    with pytest.raises(KVError, match=r"takes images of shape \(8, 8, 3\), got \(9, 9, 3\)"):
        rgb.predict(np.zeros((2, 9, 9, 1)))


def test_artifacts_without_metadata_or_unknown_types_are_refused(tmp_path, digits_exports):
    bare = tmp_path / "bare.tflite"
    # The flatbuffer alone, without the zip archive kv export appends.
    data = digits_exports["fp32.tflite"].read_bytes()
    bare.write_bytes(data[: data.find(b"PK\x03\x04")])
    with pytest.raises(KVError, match="carries no kerasvision metadata"):
        load_predictor(bare)
    (tmp_path / "model.pt").write_bytes(b"x")
    with pytest.raises(KVError, match="unknown model file type '.pt'"):
        artifact_format(tmp_path / "model.pt")


class _FakeCuda:
    """Records the cuda-python runtime calls an ``EnginePredictor`` makes."""

    class cudaMemcpyKind:
        cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost = 1, 2

    def __init__(self):
        self.mallocs, self.frees, self.streams, self.destroyed, self.copies = [], [], 0, 0, 0

    def cudaMalloc(self, size):
        self.mallocs.append(size)
        return 0, 1000 + len(self.mallocs)

    def cudaFree(self, pointer):
        self.frees.append(pointer)
        return (0,)

    def cudaStreamCreate(self):
        self.streams += 1
        return 0, 7

    def cudaStreamDestroy(self, stream):
        self.destroyed += 1
        return (0,)

    def cudaMemcpyAsync(self, dst, src, size, kind, stream):
        self.copies += 1
        return (0,)

    def cudaStreamSynchronize(self, stream):
        return (0,)


def _fake_tensorrt(classes: int, shape: tuple[int, int, int], max_batch: int):
    import types

    class Context:
        def set_input_shape(self, name, dims):
            self.batch = dims[0]

        def get_tensor_shape(self, name):
            return (self.batch, classes)

        def set_tensor_address(self, name, pointer):
            pass

        def execute_async_v3(self, stream):
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ("image", "probs")[i]

        def get_tensor_mode(self, name):
            return "in" if name == "image" else "out"

        def get_tensor_profile_shape(self, name, profile):
            return [(1, *shape), (8, *shape), (max_batch, *shape)]

        def create_execution_context(self):
            return Context()

    trt = types.ModuleType("tensorrt")
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level=0: None})
    trt.TensorIOMode = types.SimpleNamespace(INPUT="in")
    trt.Runtime = lambda logger: types.SimpleNamespace(
        deserialize_cuda_engine=lambda data: Engine()
    )
    return trt


def test_engine_predictor_allocates_once_and_frees_on_close(tmp_path, monkeypatch):
    import sys
    import types

    from kerasvision.artifacts import ModelInfo
    from kerasvision.predictor import EnginePredictor

    cuda = _FakeCuda()
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cuda
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(10, (8, 8, 1), 32))
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cuda)
    engine = tmp_path / "model-fp16.engine"
    engine.write_bytes(b"serialized")
    info = ModelInfo(labels=[str(i) for i in range(10)], input_shape=[8, 8, 1], format="engine")
    predictor = EnginePredictor(engine, info)
    assert cuda.mallocs == [32 * 8 * 8 * 1 * 4, 32 * 10 * 4] and cuda.streams == 1
    for _ in range(3):
        assert predictor.predict(np.zeros((50, 8, 8, 1))).shape == (50, 10)
    predictor.latency_ms(np.zeros((8, 8, 1)), runs=5, repeats=2)
    assert len(cuda.mallocs) == 2 and cuda.streams == 1  # no allocation per call
    assert cuda.copies > 0
    predictor.close()
    predictor.close()
    assert sorted(cuda.frees) == [1001, 1002] and cuda.destroyed == 1
