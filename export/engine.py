"""TensorRT engines: built from the exported ONNX file with the ``tensorrt`` builder; entry.

Reduced precision comes from the ONNX itself: the fp16 ONNX for fp16 and the
Q/DQ ONNX for int8. TensorRT 11 builds every network strongly typed and has no
precision flags; TensorRT 10 (JetPack 6) also gets the FP16/INT8 builder flags.
An engine only runs on the GPU model and TensorRT version it was built with,
so both go in the sidecar ``<file>.engine.json``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kerasvision.artifacts import ModelInfo, sidecar_path
from kerasvision.errors import KVError
from kerasvision.export.deepstream import write_deepstream
from kerasvision.export.format import ExportJob, Format
from kerasvision.fileio import atomic_path, write_text


def tensorrt_missing() -> str | None:
    """Why a TensorRT engine cannot be built here, or None when it can."""
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (pip install 'kerasvision[tensorrt]' on a GPU machine)"
    try:
        from cuda.bindings import runtime as cudart

        error, count = cudart.cudaGetDeviceCount()
        if int(error) != 0 or count < 1:
            return "no NVIDIA GPU is visible"
    except ImportError:
        return "cuda-python is not installed (pip install 'kerasvision[tensorrt]')"
    return None


def trtexec_command(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    input_shape: list[int],
    batch: tuple[int, int, int],
    precision: str,
    input_name: str = "image",
) -> str:
    """The ``trtexec`` line that builds the same engine on a Jetson or GPU box."""
    dims = "x".join(str(d) for d in input_shape)
    shapes = [f"{input_name}:{b}x{dims}" for b in batch]
    flag = {"fp16": "--fp16", "int8": "--int8"}.get(precision)
    hint = f" (on TensorRT 10 / JetPack 6 add {flag}; TensorRT 11 reads the ONNX types)"
    return (
        f"trtexec --onnx={onnx_path} --saveEngine={engine_path} "
        f"--minShapes={shapes[0]} --optShapes={shapes[1]} --maxShapes={shapes[2]}"
        f"{hint if flag else ''}"
    )


def _gpu_name() -> str:
    from cuda.bindings import runtime as cudart

    error, props = cudart.cudaGetDeviceProperties(0)
    if int(error) != 0:
        return "unknown"
    name = props.name
    return (name.decode() if isinstance(name, bytes) else str(name)).rstrip("\x00")


def build_engine(
    onnx_path: Path,
    *,
    precision: str,
    input_shape: list[int],
    batch: tuple[int, int, int] = (1, 8, 32),
    workspace: float = 4.0,
) -> bytes:
    """Builds a serialized engine from an ONNX file with a dynamic-batch profile."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise KVError(f"TensorRT could not parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace * (1 << 30)))
    flags = {"fp16": ["FP16"], "int8": ["INT8", "FP16"]}.get(precision, [])
    for flag in flags:  # TensorRT 10 and older; TensorRT 11 removed them
        if hasattr(trt.BuilderFlag, flag):
            config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    name = network.get_input(0).name
    low, opt, high = ((b, *input_shape) for b in batch)
    profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise KVError(f"TensorRT failed to build an engine from {onnx_path.name}")
    return bytes(serialized)


def export(model, path: Path, job: ExportJob) -> Path:
    """Builds ``path`` (a ``.engine`` file) and its sidecar JSON from the ONNX of its precision.

    Args:
        model: The Keras model (unused: the engine is built from ``job.sources["onnx"]``,
            the fp16 or Q/DQ int8 ONNX of the same precision).
        path: The engine file to write.
        job: Precision, metadata and options (``batch`` profile, ``workspace`` GiB).

    Returns:
        ``path``.

    Raises:
        KVError: Without TensorRT or a GPU (with the ``trtexec`` line to run on
            the target instead), or when the build fails.
    """
    onnx_path, info, batch = job.sources["onnx"], job.info, job.options.batch
    reason = tensorrt_missing()
    if reason:
        command = trtexec_command(
            onnx_path, path, input_shape=info.input_shape, batch=batch, precision=job.precision
        )
        raise KVError(
            f"cannot build a TensorRT engine here: {reason}; on the target run: {command}"
        )
    import tensorrt as trt

    data = build_engine(
        onnx_path,
        precision=job.precision,
        input_shape=info.input_shape,
        batch=batch,
        workspace=job.options.workspace,
    )
    extra = {
        "tensorrt": trt.__version__,
        "gpu": _gpu_name(),
        "batch_profile": list(batch),
        "built_from": onnx_path.name,
    }
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    meta = info.replace(format="engine", precision=job.precision, extra={**info.extra, **extra})
    write_text(sidecar_path(path), meta.to_json())
    return path


def _predictor(path: Path, info: ModelInfo, threads: int | None = None):
    from kerasvision.predictor import EnginePredictor

    return EnginePredictor(path, info)


def _no_embedded_info(path: Path) -> None:
    return None  # an engine's metadata is its sidecar <file>.engine.json


FORMAT = Format(
    name="engine",
    suffixes=(".engine", ".plan"),
    precisions=("fp32", "fp16", "int8"),
    runtime="TensorRT",
    predictor=_predictor,
    read_info=_no_embedded_info,
    export=export,
    options={
        "calib": ("int8",),
        "batch": ("fp32", "fp16", "int8"),
        "workspace": ("fp32", "fp16", "int8"),
    },
    companions=(write_deepstream,),
    after="onnx",
    missing=tensorrt_missing,
)
