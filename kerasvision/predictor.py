"""One interface that runs any artifact: ``.keras``, SavedModel, ``.tflite``, ``.onnx``, engine.

``load_predictor(path)`` picks the runtime from the artifact, reads its labels
and input size from the artifact itself (see ``kerasvision.artifacts``), and
returns a ``Predictor`` whose ``predict`` takes raw pixels ``(N, H, W, C)``
(0-255, any numeric dtype) and returns float32 class probabilities ``(N, K)``.
Integer (quantized) inputs and outputs are handled inside.
"""

from __future__ import annotations

import abc
import time
from pathlib import Path

import numpy as np

from kerasvision.artifacts import ModelInfo, read_info, run_labels
from kerasvision.errors import KVError
from kerasvision.protect.encryption import encrypted_format
from kerasvision.protect.loading import open_protected

FORMATS = ("keras", "saved_model", "tflite", "onnx", "engine")


class Predictor(abc.ABC):
    """Runs one artifact. Subclasses implement ``_run`` for a batch of float32 pixels.

    Attributes:
        path: The artifact.
        info: Its ``ModelInfo`` (labels, input shape, format, precision).
        max_batch: The largest batch ``_run`` accepts at once (None: any).
    """

    format = "?"
    max_batch: int | None = None

    def __init__(self, path: Path, info: ModelInfo):
        self.path = path
        self.info = info

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.info.input_shape)

    def predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``(N, K)`` for raw-pixel images ``(N, H, W, C)``."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if tuple(images.shape[1:]) != self.input_shape:
            raise KVError(
                f"{self.path.name} takes images of shape {self.input_shape}, "
                f"got {tuple(images.shape[1:])}"
            )
        step = min(batch_size, self.max_batch or batch_size)
        out = [
            np.asarray(self._run(images[i : i + step].astype(np.float32)), dtype=np.float32)
            for i in range(0, len(images), step)
        ]
        return np.concatenate(out) if out else np.zeros((0, self.info.num_classes), np.float32)

    def latency_ms(self, image: np.ndarray, runs: int = 50, repeats: int = 5) -> float:
        """Batch-1 latency in milliseconds: the best of ``repeats`` means of ``runs`` calls.

        Only the runtime's own work is timed (input already in the runtime's
        type, e.g. quantized to uint8); taking the best repeat keeps other
        processes on the machine out of the figure, as ``timeit`` does.
        """
        call = self.timed_call(np.asarray(image, dtype=np.float32)[None])
        for _ in range(5):  # warm-up
            call()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(runs):
                call()
            best = min(best, (time.perf_counter() - start) / runs)
        return best * 1000

    def timed_call(self, batch: np.ndarray):
        """A no-argument callable that runs ``batch`` once, for timing.

        The batch is converted to the runtime's input type up front, so only
        the runtime's own work is timed.
        """
        return lambda: self._run(batch)

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a float32 batch, in the runtime's own output form."""


class KerasPredictor(Predictor):
    format = "keras"

    def __init__(self, path: Path, info: ModelInfo | None = None, model=None, unsafe: bool = False):
        from kerasvision.models.saving import load_model

        self.model = model if model is not None else load_model(path, unsafe=unsafe)
        shape = [int(d) for d in self.model.input_shape[1:]]
        if info is None:
            classes = int(self.model.output_shape[-1])
            labels = run_labels(path) or [f"class_{i}" for i in range(classes)]
            info = ModelInfo(labels=labels, input_shape=shape, format="keras")
        super().__init__(path, info)

    def timed_call(self, batch: np.ndarray):
        from kerasvision.backend import tf

        forward = tf.function(lambda x: self.model(x, training=False))
        ready = tf.constant(batch)
        return lambda: forward(ready)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.model(batch, training=False).numpy()


class SavedModelPredictor(Predictor):
    format = "saved_model"

    def __init__(self, path: Path, info: ModelInfo, location: Path | None = None):
        from kerasvision.backend import tf

        super().__init__(path, info)
        self.loaded = tf.saved_model.load(str(location or path))
        self.fn = self.loaded.signatures["serving_default"]
        self.input_name = next(iter(self.fn.structured_input_signature[1]))
        self.tf = tf

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = self.fn(**{self.input_name: self.tf.constant(batch)})
        return next(iter(out.values())).numpy()


def _quantize(x: np.ndarray, dtype, scale: float, zero: int) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


class TFLitePredictor(Predictor):
    format = "tflite"

    def __init__(
        self,
        path: Path,
        info: ModelInfo,
        threads: int | None = None,
        content: bytes | None = None,
    ):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(path, info)
        source = {"model_path": str(path)} if content is None else {"model_content": content}
        self.interpreter = Interpreter(**source, num_threads=threads)
        self.input_details = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch = None
        if self.input_details["shape_signature"][0] != -1:
            self.max_batch = int(self.input_details["shape"][0])

    def _resize(self, n: int) -> None:
        if n != self.batch:
            shape = [n, *self.input_details["shape"][1:]]
            self.interpreter.resize_tensor_input(self.input_details["index"], shape)
            self.interpreter.allocate_tensors()
            self.batch = n

    def _to_input(self, batch: np.ndarray) -> np.ndarray:
        dtype = self.input_details["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zero = self.input_details["quantization"]
            return _quantize(batch, dtype, scale, zero)
        return batch.astype(dtype)

    def timed_call(self, batch: np.ndarray):
        self._resize(len(batch))
        ready = self._to_input(batch)

        def call():
            self.interpreter.set_tensor(self.input_details["index"], ready)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self.output["index"])

        return call

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self._resize(len(batch))
        self.interpreter.set_tensor(self.input_details["index"], self._to_input(batch))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if np.issubdtype(out.dtype, np.integer):
            scale, zero = self.output["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return out


class ONNXPredictor(Predictor):
    format = "onnx"

    def __init__(
        self,
        path: Path,
        info: ModelInfo,
        threads: int | None = None,
        content: bytes | None = None,
    ):
        import onnxruntime as ort

        super().__init__(path, info)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        model = str(path) if content is None else content
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.input_type = self.session.get_inputs()[0].type

    def _feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        dtype = np.float16 if self.input_type == "tensor(float16)" else np.float32
        return {self.input_name: batch.astype(dtype)}

    def timed_call(self, batch: np.ndarray):
        feed = self._feed(batch)
        return lambda: self.session.run(None, feed)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, self._feed(batch))[0]


class EnginePredictor(Predictor):
    """Runs a serialized TensorRT engine (needs ``tensorrt`` and ``cuda-python``)."""

    format = "engine"

    def __init__(self, path: Path, info: ModelInfo, content: bytes | None = None):
        try:
            import tensorrt as trt
            from cuda.bindings import runtime as cudart
        except ImportError as error:
            raise KVError(
                f"running {path.name} needs TensorRT and cuda-python on an NVIDIA GPU "
                f"(pip install 'kerasvision[tensorrt]'): {error}"
            ) from error
        super().__init__(path, info)
        self.trt, self.cudart = trt, cudart
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(
            path.read_bytes() if content is None else content
        )
        if self.engine is None:
            raise KVError(f"TensorRT could not load {path.name} (built for another GPU/version?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == mode)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) != mode)
        profile = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.max_batch = int(profile[2][0])

    def _check(self, result) -> object:
        error, *rest = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise KVError(f"CUDA error {error} while running {self.path.name}")
        return rest[0] if rest else None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        cudart = self.cudart
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self.context.set_input_shape(self.input_name, batch.shape)
        out_shape = tuple(self.context.get_tensor_shape(self.output_name))
        out = np.empty(out_shape, dtype=np.float32)
        d_in = self._check(cudart.cudaMalloc(batch.nbytes))
        d_out = self._check(cudart.cudaMalloc(out.nbytes))
        try:
            h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
            self._check(cudart.cudaMemcpy(d_in, batch.ctypes.data, batch.nbytes, h2d))
            self.context.set_tensor_address(self.input_name, d_in)
            self.context.set_tensor_address(self.output_name, d_out)
            stream = self._check(cudart.cudaStreamCreate())
            if not self.context.execute_async_v3(stream):
                raise KVError(f"TensorRT failed to run {self.path.name}")
            self._check(cudart.cudaStreamSynchronize(stream))
            self._check(cudart.cudaStreamDestroy(stream))
            self._check(cudart.cudaMemcpy(out.ctypes.data, d_out, out.nbytes, d2h))
        finally:
            cudart.cudaFree(d_in)
            cudart.cudaFree(d_out)
        return out


def artifact_format(path: str | Path) -> str:
    """The format of an artifact, from its suffix (a SavedModel is a directory)."""
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "saved_model"
        raise KVError(f"{path} is a folder but not a SavedModel (no saved_model.pb)")
    if path.suffix == ".enc":
        return encrypted_format(path)
    formats = {".keras": "keras", ".h5": "keras", ".tflite": "tflite", ".onnx": "onnx"}
    formats |= {".engine": "engine", ".plan": "engine"}
    if path.suffix not in formats:
        raise KVError(
            f"{path.name}: unknown model file type '{path.suffix}'; "
            "expected .keras, .h5, .tflite, .onnx, .engine or a SavedModel folder"
        )
    return formats[path.suffix]


def load_predictor(
    path: str | Path,
    *,
    threads: int | None = None,
    labels: list[str] | None = None,
    key=None,
    verify_hash: bool = True,
    unsafe: bool = False,
) -> Predictor:
    """Opens an artifact with its own runtime.

    Args:
        path: A ``.keras``/``.h5`` file, a SavedModel folder, or a ``.tflite``,
            ``.onnx`` or ``.engine`` file.
        threads: CPU threads for TFLite and onnxruntime. Defaults to None
            (the runtime's choice).
        labels: Class names to use when the artifact carries none. Defaults to
            None.
        key: AES key file (or the 32 key bytes) of a ``.enc`` artifact.
            Defaults to None (``KV_MODEL_KEY``).
        verify_hash: Refuse an artifact that differs from the ``manifest.json``
            beside it. Defaults to True.
        unsafe: Let a Keras file run Python code (``Lambda`` layers).
            Defaults to False.

    Returns:
        A ``Predictor``.
    """
    path = Path(path)
    if not path.exists():
        raise KVError(f"{path} does not exist")
    fmt = artifact_format(path)
    opened = open_protected(
        path, key=key, verify_hash=verify_hash, threads=threads, labels=labels, unsafe=unsafe
    )
    if opened is not None:  # an encrypted artifact, decrypted in memory
        return opened
    if fmt == "keras":
        predictor = KerasPredictor(path, unsafe=unsafe)
        if labels:
            predictor.info.labels = list(labels)
        return predictor
    info = read_info(path)
    if info is None:
        raise KVError(
            f"{path.name} carries no kerasvision metadata (labels, input size); "
            "export it with kv export"
        )
    if labels:
        info.labels = list(labels)
    if fmt == "saved_model":
        return SavedModelPredictor(path, info)
    if fmt == "tflite":
        return TFLitePredictor(path, info, threads)
    if fmt == "onnx":
        return ONNXPredictor(path, info, threads)
    return EnginePredictor(path, info)
