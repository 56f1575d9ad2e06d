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

from kerasvision.artifacts import ModelInfo, final_model, find_run_dir, run_config, run_labels
from kerasvision.config import TrainConfig
from kerasvision.data.sampling import collect_spread
from kerasvision.errors import KVError
from kerasvision.export.engine import export_engine
from kerasvision.export.formats import FORMATS, ExportOptions, missing, plan_exports
from kerasvision.export.onnx import export_onnx
from kerasvision.export.saved_model import export_saved_model
from kerasvision.export.tflite import export_tflite
from kerasvision.export.verify import Verification, verify
from kerasvision.fileio import write_json
from kerasvision.predictor import KerasPredictor, load_predictor
from kerasvision.protect.exporting import finish_export

log = logging.getLogger(__name__)


@dataclass
class ExportSource:
    """What ``kv export`` was pointed at.

    Attributes:
        model_path: The Keras file to export.
        run_dir: The run directory it belongs to, if any.
        config: That run's config, if any.
    """

    model_path: Path
    run_dir: Path | None = None
    config: TrainConfig | None = None


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
    path = Path(source)
    if not path.exists():
        raise KVError(f"{path} does not exist")
    if path.is_dir():
        return ExportSource(final_model(path), path, run_config(path))
    if path.suffix not in (".keras", ".h5"):
        raise KVError(f"{path.name}: kv export takes a run directory or a .keras/.h5 file")
    run = find_run_dir(path)
    return ExportSource(path, run, run_config(run) if run else None)


@dataclass
class ExportData:
    """Held-out images with labels, and calibration images, at the model's input size."""

    images: np.ndarray
    labels: np.ndarray
    calibration: np.ndarray
    class_names: list[str]


def _collect(dataset, total: int | None, limit: int) -> tuple[np.ndarray, np.ndarray]:
    images, one_hot = collect_spread(dataset, total, limit)
    return images, np.argmax(one_hot, axis=-1) if len(one_hot) else one_hot


def load_export_data(
    source: ExportSource,
    input_shape: tuple[int, ...],
    *,
    dataset: str | None = None,
    max_images: int = 1000,
    calib: int = 300,
) -> ExportData:
    """Opens the run's (or ``dataset``'s) data with the same split as training.

    Held-out images come from the test split when there is one, else the
    validation split; calibration images from the training split, unaugmented.
    """
    from kerasvision.data import build_pipelines, open_source

    config = source.config or TrainConfig()
    spec = dataset or (source.config.dataset if source.config else None)
    if spec is None:
        raise KVError(
            f"{source.model_path.name} is not in a run directory: pass --dataset to verify "
            "and calibrate on, or --no-verify for fp32/fp16/dynamic exports"
        )
    opened = open_source(
        spec,
        data_dir=config.data_dir,
        seed=config.split_seed,
        val_split=config.val_split,
        test_split=config.test_split,
    )
    size, channels = int(input_shape[0]), int(input_shape[2])
    splits = build_pipelines(
        opened, image_size=size, channels=channels, batch_size=64, augment=None, cache="none"
    )
    held_out = "test" if "test" in splits.counts else "val"
    images, labels = _collect(splits.test, splits.counts.get(held_out), max_images)
    calibration, _ = _collect(splits.train, None, calib)  # shuffled: any draw is random
    return ExportData(images, labels, calibration, list(opened.class_names))


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
    file = out / "verification.json"
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
        progress: Called with a line of text as each step starts. Defaults to None.
        sign: Ed25519 private key file that signs ``manifest.json``. Defaults to None.
        encrypt: AES-256 key file; every artifact is replaced by its AES-GCM
            ``.enc`` file. Defaults to None.

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
    out = Path(out) if out else (src.run_dir or src.model_path.parent) / "export"
    reference = KerasPredictor(src.model_path)
    model, shape = reference.model, reference.input_shape
    needs_data = verify_artifacts or any(p == "int8" for _, p in plan)
    data = None
    if needs_data:
        say("opening the held-out and calibration images")
        data = load_export_data(
            src, shape, dataset=dataset, max_images=max_images, calib=options.calib
        )
        if len(data.class_names) != model.output_shape[-1]:
            raise KVError(
                f"the model has {model.output_shape[-1]} classes but the data has "
                f"{len(data.class_names)}"
            )
    labels = run_labels(src.model_path) or (data.class_names if data else None)
    if labels is None:
        labels = [f"class_{i}" for i in range(model.output_shape[-1])]
    info = ModelInfo(
        labels=labels,
        input_shape=list(shape),
        model=src.config.model if src.config else None,
        format="keras",
    )
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
            predictor = load_predictor(path, threads=threads, verify_hash=False)
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
    # manifest.json with every file's sha256; .enc files and a signature when asked
    report.artifacts = finish_export(
        out, report.artifacts, src.model_path, sign=sign, encrypt=encrypt, progress=say
    )
    return report
