"""The table of export formats, the options each accepts, and the export plan.

Invalid combinations (``--format saved_model --precision int8``, ``--io-type``
without a TFLite int8 export, ...) are rejected here, before any work.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from kerasvision.errors import KVError, unknown


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: The ``--format`` value.
        suffix: The artifact's file suffix ("" for a folder).
        precisions: The ``--precision`` values it takes, in default order.
        options: The export options it uses besides precision.
        runtime: What verifies it.
        after: A format it is built from (exports are chained), or None.
    """

    name: str
    suffix: str
    precisions: tuple[str, ...]
    options: frozenset[str]
    runtime: str
    after: str | None = None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("saved_model", "", ("fp32",), frozenset(), "TensorFlow"),
        Format(
            "tflite",
            ".tflite",
            ("fp32", "fp16", "dynamic", "int8"),
            frozenset({"calib", "io_type"}),
            "ai-edge-litert",
        ),
        Format(
            "onnx", ".onnx", ("fp32", "fp16", "int8"), frozenset({"calib", "opset"}), "onnxruntime"
        ),
        Format(
            "engine",
            ".engine",
            ("fp32", "fp16", "int8"),
            frozenset({"calib", "batch", "workspace"}),
            "TensorRT",
            after="onnx",
        ),
    )
}
PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
IO_TYPES = ("float32", "uint8", "int8")


@dataclass(frozen=True)
class ExportOptions:
    """Options shared by the exports.

    Attributes:
        calib: Calibration images for int8 (drawn from the training split).
        io_type: Input/output type of int8 TFLite files.
        batch: TensorRT optimization profile ``(min, opt, max)`` batch sizes.
        opset: ONNX opset.
        workspace: TensorRT builder workspace in GiB.
    """

    calib: int = 300
    io_type: str = "uint8"
    batch: tuple[int, int, int] = (1, 8, 32)
    opset: int = 17
    workspace: float = 4.0

    def validate(self) -> ExportOptions:
        if self.calib < 1:
            raise KVError(f"--calib must be at least 1, got {self.calib}")
        if self.io_type not in IO_TYPES:
            raise unknown("--io-type", self.io_type, IO_TYPES)
        low, opt, high = self.batch
        if not 1 <= low <= opt <= high:
            raise KVError(f"--batch needs 1 <= min <= opt <= max, got {low}:{opt}:{high}")
        if not 9 <= self.opset <= 21:
            raise KVError(f"--opset must be in [9, 21], got {self.opset}")
        if self.workspace <= 0:
            raise KVError(f"--workspace must be positive, got {self.workspace}")
        return self


def parse_batch(text: str) -> tuple[int, int, int]:
    """``"1:8:32"`` -> ``(1, 8, 32)``; a single number N means ``N:N:N``."""
    parts = text.split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise KVError(f"--batch takes MIN:OPT:MAX integers, got '{text}'") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise KVError(f"--batch takes MIN:OPT:MAX, got '{text}'")
    return values[0], values[1], values[2]


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


def missing(fmt: str) -> str | None:
    """Why ``fmt`` cannot be built on this machine, or None."""
    if fmt == "engine":
        return tensorrt_missing()
    if fmt == "onnx":
        for module in ("tf2onnx", "onnx", "onnxruntime"):
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install tf2onnx onnx onnxruntime)"
    return None


def plan_exports(
    formats: list[str] | None = None,
    precisions: list[str] | None = None,
    *,
    io_type_given: bool = False,
) -> list[tuple[str, str]]:
    """The ``(format, precision)`` pairs to export, checked before any work.

    Args:
        formats: Requested formats; None means every format this machine
            can build. Defaults to None.
        precisions: Requested precisions; None means every precision each
            format takes. Defaults to None.
        io_type_given: Whether the user set ``--io-type`` (it needs a TFLite
            int8 export in the plan). Defaults to False.

    Returns:
        The pairs in export order; a chained format comes after the artifact
        it is built from, which joins the plan if it was not asked for.

    Raises:
        KVError: For unknown names, a requested format this machine cannot
            build, or a precision no requested format takes.
    """
    for name in formats or []:
        if name not in FORMATS:
            raise unknown("export format", name, FORMATS)
    for name in precisions or []:
        if name not in PRECISIONS:
            raise unknown("precision", name, PRECISIONS)
    explicit = formats is not None
    chosen = list(dict.fromkeys(formats)) if explicit else [f for f in FORMATS if not missing(f)]
    if explicit:
        for name in chosen:
            reason = missing(name)
            # An engine asked for without TensorRT still gets its ONNX file, then fails
            # with the trtexec line that builds it on the target (export_engine).
            if reason and name != "engine":
                raise KVError(f"cannot export {name} here: {reason}")
    plan = []
    for name in chosen:
        fmt = FORMATS[name]
        wanted = precisions or list(fmt.precisions)
        bad = [p for p in wanted if p not in fmt.precisions]
        if bad and explicit:
            raise KVError(
                f"{name} does not take precision {', '.join(bad)}; it takes "
                f"{', '.join(fmt.precisions)}"
            )
        for precision in (p for p in wanted if p in fmt.precisions):
            if fmt.after and (fmt.after, precision) not in plan:
                plan.append((fmt.after, precision))  # an engine is built from the ONNX file
            plan.append((name, precision))
    plan = list(dict.fromkeys(plan))
    if not plan:
        raise KVError(
            f"no format here takes precision {', '.join(precisions or [])}; "
            f"formats: {', '.join(chosen)}"
        )
    if io_type_given and ("tflite", "int8") not in plan:
        raise KVError("--io-type applies to TFLite int8 exports, and none is planned")
    return plan
