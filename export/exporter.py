"""``export_model``: a run's model to every planned format, each verified by its runtime.

Order of work: resolve the source and plan the exports (both fail fast on bad
input), open the held-out and calibration images, compute the Keras
reference, then, for each ``(format, precision)``, call its registry entry's
``export(model, path, job)``, verify the file with its runtime and run its
deployment checks. An engine is built from the ONNX file of its precision,
exported just before it. A format that fails is recorded and the others go
on; a file that fails verification is renamed ``.failed`` (a folder is
removed). Results go to ``<out>/verification.json``, merged with earlier
exports there.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasvision.artifact import load_predictor, resolve
from kerasvision.artifacts import ModelInfo, sidecar_path
from kerasvision.errors import KVError, bad_value
from kerasvision.export.format import (
    FAILED,
    OK,
    CheckContext,
    CheckResult,
    ExportJob,
    Format,
    ModelTraits,
    first_line,
)
from kerasvision.export.formats import FORMATS, missing, plan_exports
from kerasvision.export.options import ExportOptions, OptionError
from kerasvision.export.verify import Verification, verify
from kerasvision.fileio import write_json
from kerasvision.heldout import calibration_images, display_labels, heldout
from kerasvision.predictor import KerasPredictor
from kerasvision.protect.exporting import finish_export
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
        companions: Files written beside the artifacts (DeepStream configs).
        notes: Pairs skipped because they cannot be made for this model.
    """

    out: Path
    reference: Verification | None = None
    results: list[Verification] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    companions: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
    return FORMATS[fmt].path(out, stem, precision)


def _quarantine(path: Path) -> Path | None:
    """Takes a file that failed out of use: ``x.onnx`` -> ``x.onnx.failed``; a folder is removed."""
    if path.is_dir():
        shutil.rmtree(path)
        return None
    if not path.exists():
        return None
    failed = path.with_name(path.name + ".failed")
    path.replace(failed)
    if sidecar_path(path).is_file():
        sidecar_path(path).replace(sidecar_path(failed))
    return failed


@dataclass
class _Reference:
    """The held-out images, their labels and the Keras model's probabilities."""

    images: np.ndarray
    labels: np.ndarray
    probs: np.ndarray


def _verify_one(fmt: Format, path: Path, job: ExportJob, ref: _Reference, threads, max_drop):
    """Runs ``path`` with its runtime and its deployment checks; the ``Verification``."""
    # A manifest of an earlier export may sit beside it: this file is new.
    predictor = load_predictor(path, threads=threads, verify_hash=False)
    probs = predictor.predict(ref.images)
    result = verify(
        predictor,
        ref.images,
        ref.labels,
        ref.probs,
        precision=job.precision,
        max_drop=max_drop,
        probs=probs,
    )
    status = OK if result.passed else FAILED
    said = (
        f"top-1 agrees with Keras on {result.agreement:.2%}, accuracy drop {result.drop:.2f} points"
    )
    if not result.passed:
        said += f" (max {result.max_drop})"
    context = CheckContext(job.info, job.precision, ref.images, ref.probs, probs, job.options)
    checks = [CheckResult(fmt.runtime, status, said)]
    for check in fmt.checks:
        try:
            checks.append(check.run(path, context))
        except Exception as error:  # a stack that crashes on the file refuses it
            checks.append(CheckResult(check.name, FAILED, first_line(error)))
    result.checks = {c.name: c.to_dict() for c in checks}
    result.passed = result.passed and not any(c.failed for c in checks)
    return result


def _write_verification(out: Path, report: ExportReport, source: ExportSource, threads) -> None:
    file = out / VERIFICATION
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if file.is_file():  # keep the rows of earlier exports of other formats
        try:
            old = json.loads(file.read_text(encoding="utf-8"))
            rows = {(r["format"], r["precision"]): r for r in old.get("artifacts", [])}
        except (json.JSONDecodeError, KeyError, TypeError):
            rows = {}
    for fmt, precision, _ in report.failures:
        rows.pop((fmt, precision), None)  # its file is gone or renamed .failed
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


def _traits(model) -> ModelTraits:
    from kerasvision.compress.qat import is_quantized

    return ModelTraits(quantized=is_quantized(model), channels=int(model.input_shape[-1]))


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
    options_given: Iterable[str] = (),
    progress: Callable[[str], None] | None = None,
    sign: str | Path | None = None,
    encrypt: str | Path | None = None,
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
        options_given: The ``ExportOptions`` fields the user set; each needs
            a planned format that takes it. Defaults to ().
        progress: Called with a line of text as each step starts. Defaults to None.
        sign: Ed25519 private key file that signs ``manifest.json``. Defaults to None.
        encrypt: AES-256 key file; every artifact is replaced by its AES-GCM
            ``.enc`` file. Defaults to None.

    Returns:
        The ``ExportReport``; ``report.ok`` is False when an export failed, an
        artifact lost more than ``max_drop`` points, or a stack installed here
        refused it.
    """
    options = (options or ExportOptions()).validate()
    given = set(options_given)
    plan_exports(formats, precisions, io_type_given=io_type_given, options_given=given)
    if max_drop is not None and max_drop < 0:
        raise OptionError("max_drop", f"{{name}} must be >= 0, got {max_drop}")
    say = progress or (lambda text: log.info(text))
    if formats is None and (reason := missing("engine")):
        say(f"skipping engine: {reason}; the ONNX file builds one on the target")
    src = resolve_source(source)
    if out is None:
        out = src.run.export_dir if src.run else src.model_path.parent / "export"
    out = Path(out)
    reference = KerasPredictor(src.model_path)
    model, shape = reference.model, reference.input_shape
    notes: list[str] = []
    traits = _traits(model)
    plan = plan_exports(
        formats,
        precisions,
        io_type_given=io_type_given,
        options=options,
        options_given=given,
        traits=traits,
        notes=notes,
    )
    if any(p == "int8" for _, p in plan) and src.model_name:
        from kerasvision.models.int8 import int8_warning

        warning = int8_warning(src.model_name)
        if warning:  # a family known to lose accuracy at int8: see its verification row
            notes.append(f"{warning}; the int8 rows below show what this model lost")
    for note in notes:
        say(note)
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
    report = ExportReport(out=out, notes=notes)
    ref = None
    if verify_artifacts:
        reference.info = info
        ref = _Reference(data.images, data.labels, reference.predict(data.images))
        report.reference = verify(reference, ref.images, ref.labels, ref.probs, precision="fp32")
    written: dict[tuple[str, str], Path] = {}
    calibration = data.calibration if data is not None else None
    for name, precision in plan:
        fmt = FORMATS[name]
        path = fmt.path(out, src.model_path.stem, precision)
        sources = {f: p for (f, pr), p in written.items() if pr == precision}
        job = ExportJob(precision, info, options, calibration, traits, sources)
        say(f"exporting {name} {precision} -> {path}")
        try:
            fmt.export(model, path, job)
            result = _verify_one(fmt, path, job, ref, threads, max_drop) if ref else None
        except Exception as error:  # one failing format never loses the others
            if not isinstance(error, KVError):
                log.debug("%s %s failed", name, precision, exc_info=True)
            _quarantine(path)
            report.failures.append((name, precision, first_line(error)))
            say(f"{name} {precision} failed: {first_line(error)}")
            continue
        if result is not None:
            report.results.append(result)
            if not result.passed:
                result.path = str(_quarantine(path) or f"{path} (removed)")
                say(f"{name} {precision} failed verification; kept as {result.path}")
                continue
        written[(name, precision)] = path
        report.artifacts.append(path)
        for companion in fmt.companions:
            report.companions += companion(path, job)
    if verify_artifacts or report.failures:
        _write_verification(out, report, src, threads)
    # manifest.json with every file's sha256; .enc files and a signature when asked
    report.artifacts = finish_export(
        out, report.artifacts, src.model_path, sign=sign, encrypt=encrypt, progress=say
    )
    return report
