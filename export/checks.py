"""Deployment checks: the stacks installed here that must accept each file.

Each check returns ``ok`` (ran and agreed), ``failed`` (with the stack's
message) or ``unavailable`` (with the reason). A failed check fails the
export like an accuracy drop. The runtime that verifies accuracy (LiteRT,
onnxruntime, TensorFlow, TensorRT) is reported by the exporter as the first
check of every file.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from kerasvision.export.format import (
    FAILED,
    OK,
    UNAVAILABLE,
    Check,
    CheckContext,
    CheckResult,
    first_line,
)


def agreement(probs: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of rows whose top-1 class is the same in both."""
    return float(np.mean(probs.argmax(axis=1) == reference.argmax(axis=1))) if len(probs) else 1.0


def onnx_full_check(path: Path, context: CheckContext) -> CheckResult:
    """``onnx.checker.check_model(model, full_check=True)``: schema, types and shapes."""
    import onnx

    name = "onnx full check"
    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except Exception as error:  # ValidationError, InferenceError, ...
        return CheckResult(name, FAILED, first_line(error))
    return CheckResult(name, OK, "check_model(full_check=True) passed")


_LINT = "import sys; from polygraphy.tools import main; sys.exit(main())"


def polygraphy_lint(path: Path, context: CheckContext) -> CheckResult:
    """``polygraphy check lint``: NVIDIA's ONNX linter (graph, types, an onnxruntime run)."""
    name = "polygraphy lint"
    for module in ("polygraphy", "onnx_graphsurgeon"):
        if importlib.util.find_spec(module) is None:
            return CheckResult(name, UNAVAILABLE, f"{module} is not installed")
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "lint.json"
        command = [sys.executable, "-c", _LINT, "check", "lint", str(path), "-o", str(report)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        entries = json.loads(report.read_text()).get("lint_entries", []) if report.is_file() else []
    bad = [e for e in entries if e.get("level") in ("exception", "error")]
    if done.returncode != 0 or bad:
        detail = "; ".join(str(e.get("message", e)).strip() for e in bad)
        tail = [line for line in done.stdout.splitlines() if "[E]" in line or "[!]" in line]
        return CheckResult(name, FAILED, detail or " ".join(tail)[-400:] or "lint failed")
    warnings = len(entries)
    return CheckResult(name, OK, "passed" + (f" ({warnings} warnings)" if warnings else ""))


def tensorrt_parse(path: Path, context: CheckContext) -> CheckResult:
    """TensorRT's ONNX parser reads the file (a GPU is not needed to parse)."""
    name = "TensorRT"
    if importlib.util.find_spec("tensorrt") is None:
        return CheckResult(name, UNAVAILABLE, "TensorRT is not installed here")
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.ERROR)
    network = trt.Builder(logger).create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        return CheckResult(name, FAILED, f"ONNX parser: {errors}")
    return CheckResult(name, OK, f"TensorRT {trt.__version__} ONNX parser read it")


ONNX_CHECKS = (
    Check("onnx full check", onnx_full_check),
    Check("polygraphy lint", polygraphy_lint),
    Check("TensorRT", tensorrt_parse),
)
