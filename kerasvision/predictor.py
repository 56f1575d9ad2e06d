"""One interface that runs any artifact: ``.keras``, SavedModel, ``.tflite``, ``.onnx``, engine.

``load_predictor(path)`` finds the artifact's format in the format registry
(``kerasvision.export.registry``, whose entries name the predictor class of
each format), reads its labels and input size from the artifact itself, and
returns a ``Predictor`` whose ``predict`` takes raw pixels ``(N, H, W, C)``
(0-255, any numeric dtype) and returns float32 class probabilities ``(N, K)``.
Integer (quantized) inputs and outputs are handled inside.
"""

from __future__ import annotations

import abc
import contextlib
import time
from pathlib import Path

import numpy as np

from kerasvision.artifacts import ModelInfo
from kerasvision.errors import KVError


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

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """``images`` as a batch this artifact takes; gray images are given as RGB to an RGB file.

        A 1-channel model exported for phones takes RGB and turns it gray
        inside (``kerasvision.export.rgb_input``), so the gray value in R, G
        and B gives it the very image the Keras model sees.
        """
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim == 4 and images.shape[-1] == 1 and self.input_shape[-1] == 3:
            images = np.repeat(images, 3, axis=-1)
        if tuple(images.shape[1:]) != self.input_shape:
            raise KVError(
                f"{self.path.name} takes images of shape {self.input_shape}, "
                f"got {tuple(images.shape[1:])}"
            )
        return images

    def predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``(N, K)`` for raw-pixel images ``(N, H, W, C)``."""
        images = self.prepare(images)
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
        call = self.timed_call(self.prepare(np.asarray(image, dtype=np.float32)))
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


def run_labels(model_file: str | Path) -> list[str] | None:
    """The labels of the run a ``.keras`` file belongs to, if any."""
    from kerasvision.run import Run

    run = Run.of(model_file)
    return run.labels() if run is not None else None


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
    """Runs a SavedModel's ``serving_default`` signature.

    ``path`` is the artifact (a bare SavedModel or TF Serving's
    ``<name>/<version>/`` layout); ``model_dir`` the folder holding
    ``saved_model.pb``, ``path`` itself by default.
    """

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
    """Runs a serialized TensorRT engine (needs ``tensorrt`` and ``cuda-python``).

    Device buffers for the profile's largest batch and one CUDA stream are
    allocated once, when the engine is opened, and freed by ``close()`` (or
    when the predictor is collected), so a call's latency is the copy in,
    the run and the copy out.
    """

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
        self._buffers: list[int] = []
        self.stream = None
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
        self._allocate()

    def _check(self, result) -> object:
        error, *rest = result if isinstance(result, tuple) else (result,)
        if int(error) != 0:
            raise KVError(f"CUDA error {error} while running {self.path.name}")
        return rest[0] if rest else None

    def _allocate(self) -> None:
        """One input and one output buffer for ``max_batch`` images, and one stream."""
        float_bytes = np.dtype(np.float32).itemsize
        image = int(np.prod(self.input_shape))
        self.in_bytes = self.max_batch * image * float_bytes
        self.out_bytes = self.max_batch * self.info.num_classes * float_bytes
        self.d_in = self._check(self.cudart.cudaMalloc(self.in_bytes))
        self._buffers.append(self.d_in)
        self.d_out = self._check(self.cudart.cudaMalloc(self.out_bytes))
        self._buffers.append(self.d_out)
        self.stream = self._check(self.cudart.cudaStreamCreate())
        self.context.set_tensor_address(self.input_name, self.d_in)
        self.context.set_tensor_address(self.output_name, self.d_out)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        cudart = self.cudart
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if len(batch) > self.max_batch:
            raise KVError(f"{self.path.name} takes at most {self.max_batch} images per call")
        self.context.set_input_shape(self.input_name, batch.shape)
        out = np.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=np.float32)
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(
            cudart.cudaMemcpyAsync(self.d_in, batch.ctypes.data, batch.nbytes, h2d, self.stream)
        )
        if not self.context.execute_async_v3(self.stream):
            raise KVError(f"TensorRT failed to run {self.path.name}")
        self._check(
            cudart.cudaMemcpyAsync(out.ctypes.data, self.d_out, out.nbytes, d2h, self.stream)
        )
        self._check(cudart.cudaStreamSynchronize(self.stream))
        return out

    def close(self) -> None:
        """Frees the device buffers and the stream (safe to call twice)."""
        cudart = getattr(self, "cudart", None)
        if cudart is None:
            return
        while self._buffers:
            cudart.cudaFree(self._buffers.pop())
        if self.stream is not None:
            cudart.cudaStreamDestroy(self.stream)
            self.stream = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # the CUDA context may be gone at exit
            self.close()
