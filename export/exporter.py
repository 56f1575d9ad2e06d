"""``export_model``: a run's model to every planned format, each verified by its runtime.

Order of work: resolve the source and plan the exports (both fail fast on bad
input), open the held-out and calibration images, compute the Keras
reference, then export and verify each ``(format, precision)`` in turn. An
engine is built from the ONNX file of its precision, exported just before it.
Results go to ``<out>/verification.json``, merged with earlier exports there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasvision.artifact import resolve
from kerasvision.artifacts import ModelInfo
from kerasvision.errors import KVError, bad_value
from kerasvision.export.engine import export_engine
from kerasvision.export.formats import FORMATS, ExportOptions, missing, plan_exports
from kerasvision.export.onnx import export_onnx
from kerasvision.export.saved_model import export_saved_model
from kerasvision.export.tflite import export_tflite
from kerasvision.export.verify import Verification, verify
from kerasvision.fileio import write_json
from kerasvision.heldout import calibration_images, display_labels, heldout
from kerasvision.predictor import KerasPredictor, load_predictor
from kerasvision.run import VERIFICATION, Run

log = logging.getLogger(__name__)


@dataclass
class ExportSource:
    """What ``kv export`` was pointed at.

    Attributes:
        model_path: The Keras file to export.
        run: The run it belongs to, if any.
    """

    model_path: Path
    run: Run | None = None

    @property
    def model_name(self) -> str | None:
        """The registered architecture of the run's model, when known."""
        return self.run.config().model if self.run else None


@dataclass
class ExportReport:
    """What ``export_model`` returns.

    Attributes:
        out: The folder holding the artifacts and ``verification.json``.
        reference: The Keras model's own row (accuracy, latency, size).
        results: One ``Verification`` per artifact (empty when not verified).
        artifacts: The files and folders written.
        failures: ``(format, precision, message)`` of exports that failed.
    """

    out: Path
    reference: Verification | None = None
    results: list[Verification] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def failed(self) -> list[Verification]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.failures


def resolve_source(source: str | Path) -> ExportSource:
    """A run directory (its final model) or a ``.keras``/``.h5`` file."""
    artifact, run = resolve(source)
    if artifact.format != "keras":
        raise KVError(f"{artifact.path.name}: kv export takes a run directory or a .keras/.h5 file")
    return ExportSource(artifact.path, run)


@dataclass
class ExportData:
    """Held-out images with labels (in the model's class ids), and calibration images."""

    images: np.ndarray
    labels: np.ndarray
    calibration: np.ndarray
    class_names: list[str]


def load_export_data(
    source: ExportSource,
    input_shape: tuple[int, ...],
    labels: list[str],
    *,
    dataset: str | None = None,
    max_images: int = 1000,
    calib: int = 300,
) -> ExportData:
    """The held-out images that verify the exports, and the images that calibrate int8.

    They are the ones ``kv eval`` uses (``kerasvision.heldout``): the run's
    held-out split, or all of ``dataset`` when it is not the run's own, with
    its classes mapped to the model's by name. A model in a run calibrates on
    its own training images.
    """
    if source.run is None and dataset is None:
        raise bad_value(
            "dataset",
            f"is needed: {source.model_path.name} is not in a run directory; name the data "
            "to verify and calibrate on, or skip verification for fp32/fp16/dynamic exports",
        )
    held = heldout(input_shape, labels, run=source.run, dataset=dataset)
    images, ids = held.arrays(max_images)
    calibration = calibration_images(input_shape, calib, run=source.run, dataset=dataset)
    return ExportData(images.astype(np.float32), ids, calibration, held.class_names)


def artifact_path(out: Path, stem: str, fmt: str, precision: str) -> Path:
    """Where ``(fmt, precision)`` of the Keras file ``<stem>.keras`` is written in ``out``."""
    if fmt == "saved_model":
        return out / f"{stem}_saved_model"
    return out / f"{stem}-{precision}{FORMATS[fmt].suffix}"


def _export_one(
    model, fmt: str, precision: str, path: Path, info: ModelInfo, data, options, out, stem
) -> Path:
    calibration = data.calibration if data is not None else None
    if fmt == "tflite":
        return export_tflite(
            model,
            path,
            precision=precision,
            info=info,
            calibration=calibration,
            io_type=options.io_type,
        )
    if fmt == "onnx":
        return export_onnx(
            model,
            path,
            precision=precision,
            info=info,
            calibration=calibration,
            opset=options.opset,
        )
    if fmt == "engine":
        onnx_path = artifact_path(out, stem, "onnx", precision)
        return export_engine(
            onnx_path,
            path,
            precision=precision,
            info=info,
            batch=options.batch,
            workspace=options.workspace,
        )
    return export_saved_model(model, path, info=info, precision=precision)


def _write_verification(out: Path, report: ExportReport, source: ExportSource, threads) -> None:
    file = out / VERIFICATION
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if file.is_file():  # keep the rows of earlier exports of other formats
        try:
            old = json.loads(file.read_text(encoding="utf-8"))
            rows = {(r["format"], r["precision"]): r for r in old.get("artifacts", [])}
        except (json.JSONDecodeError, KeyError, TypeError):
            rows = {}
    for result in report.results:
        rows[(result.format, result.precision)] = result.to_dict()
    write_json(
        file,
        {
            "source": str(source.model_path),
            "threads": threads,
            "keras": report.reference.to_dict() if report.reference else None,
            "artifacts": list(rows.values()),
            "failures": [{"format": f, "precision": p, "error": e} for f, p, e in report.failures],
        },
    )


def export_model(
    source: str | Path,
    *,
    formats: list[str] | None = None,
    precisions: list[str] | None = None,
    out: str | Path | None = None,
    dataset: str | None = None,
    options: ExportOptions | None = None,
    max_drop: float | None = None,
    threads: int | None = None,
    verify_artifacts: bool = True,
    max_images: int = 1000,
    io_type_given: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Exports a run's model (or a Keras file) and verifies every artifact.

    Args:
        source: A run directory (its final model) or a ``.keras``/``.h5`` file.
        formats: Formats to write; None means every format this machine can
            build. Defaults to None.
        precisions: Precisions to write; None means all each format takes.
            Defaults to None.
        out: Output folder. Defaults to None (``<run or model folder>/export``).
        dataset: Data to verify and calibrate on when ``source`` is not in a run
            directory. Defaults to None (the run's dataset).
        options: Calibration size, int8 I/O type, TensorRT batch profile, ONNX
            opset. Defaults to None (``ExportOptions()``).
        max_drop: Allowed accuracy drop in points for every artifact. Defaults
            to None (0.1 for fp32, 1 for fp16/dynamic/int8).
        threads: CPU threads of the runtimes while verifying. Defaults to None.
        verify_artifacts: Verify each artifact after writing it. Defaults to True.
        max_images: Held-out images used for verification. Defaults to 1000.
        io_type_given: Whether ``options.io_type`` was set by the user.
            Defaults to False.
        progress: Called with a line of text as each step starts. Defaults to None.

    Returns:
        The ``ExportReport``; ``report.ok`` is False when an export failed or
        an artifact lost more than ``max_drop`` points.
    """
    options = (options or ExportOptions()).validate()
    plan = plan_exports(formats, precisions, io_type_given=io_type_given)
    if max_drop is not None and max_drop < 0:
        raise KVError(f"--max-drop must be >= 0, got {max_drop}")
    say = progress or (lambda text: log.info(text))
    if formats is None and (reason := missing("engine")):
        say(f"skipping engine: {reason}; the ONNX file builds one on the target")
    src = resolve_source(source)
    if out is None:
        out = src.run.export_dir if src.run else src.model_path.parent / "export"
    out = Path(out)
    reference = KerasPredictor(src.model_path)
    model, shape = reference.model, reference.input_shape
    needs_data = verify_artifacts or any(p == "int8" for _, p in plan)
    data = None
    if needs_data:
        say("opening the held-out and calibration images")
        data = load_export_data(
            src,
            shape,
            reference.labels,
            dataset=dataset,
            max_images=max_images,
            calib=options.calib,
        )
    labels = display_labels(reference.labels, data.class_names if data else [])
    info = ModelInfo(labels=labels, input_shape=list(shape), model=src.model_name, format="keras")
    report = ExportReport(out=out)
    ref_probs = None
    if verify_artifacts:
        reference.info = info
        ref_probs = reference.predict(data.images)
        report.reference = verify(reference, data.images, data.labels, ref_probs, precision="fp32")
    stem = src.model_path.stem
    for fmt, precision in plan:
        path = artifact_path(out, stem, fmt, precision)
        say(f"exporting {fmt} {precision} -> {path}")
        try:
            _export_one(model, fmt, precision, path, info, data, options, out, stem)
        except KVError as error:
            report.failures.append((fmt, precision, str(error)))
            say(f"{fmt} {precision} failed: {error}")
            continue
        report.artifacts.append(path)
        if verify_artifacts:
            predictor = load_predictor(path, threads=threads)
            result = verify(
                predictor,
                data.images,
                data.labels,
                ref_probs,
                precision=precision,
                max_drop=max_drop,
            )
            report.results.append(result)
    if verify_artifacts or report.failures:
        _write_verification(out, report, src, threads)
    return report
