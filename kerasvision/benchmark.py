"""``benchmark_run``: every format a run exports to, measured side by side.

For a finished run it exports (or reuses, from ``RUN/export/``) every format
and precision this machine can build, then measures each artifact and the
Keras model with their own runtimes on the run's held-out images: size,
accuracy, batch-1 latency and batch-32 throughput. The table is written to
``RUN/benchmark.json`` and ``RUN/benchmark.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasvision.errors import KVError, bad_value
from kerasvision.evaluation import limit_tf_threads
from kerasvision.fileio import write_json, write_text
from kerasvision.heldout import heldout
from kerasvision.run import Run

log = logging.getLogger(__name__)

COLUMNS = (
    "format",
    "precision",
    "size MB",
    "accuracy",
    "ms/image (batch 1)",
    "images/s (batch 32)",
)
SHORT_COLUMNS = ("format", "precision", "size MB", "accuracy", "ms/image", "images/s")


@dataclass
class BenchmarkRow:
    """One artifact's figures.

    Attributes:
        format: ``keras``, ``saved_model``, ``tflite``, ``onnx`` or ``engine``.
        precision: ``fp32``, ``fp16``, ``dynamic`` or ``int8``.
        path: The artifact.
        size_mb: Its size on disk (10^6 bytes; a folder's total).
        accuracy: Top-1 accuracy on the held-out images.
        latency_ms: Batch-1 latency of the runtime (best of 5 means).
        images_per_s: Throughput at batch 32 (best of 5 rounds).
    """

    format: str
    precision: str
    path: str
    size_mb: float
    accuracy: float
    latency_ms: float
    images_per_s: float

    def cells(self) -> list[str]:
        return [
            self.format,
            self.precision,
            f"{self.size_mb:.3f}",
            f"{self.accuracy:.4f}",
            f"{self.latency_ms:.3f}",
            f"{self.images_per_s:,.0f}",
        ]


@dataclass
class BenchmarkResult:
    """What ``benchmark_run`` measured.

    Attributes:
        run_dir: The run.
        rows: One row per artifact, the Keras model first.
        images: Held-out images used for accuracy.
        data: The data spec and split.
        threads: CPU threads given to the runtimes (None: their choice).
        machine: The CPU (and GPU) it ran on.
        failures: ``(format, precision, message)`` for exports or runs that failed.
    """

    run_dir: str
    rows: list[BenchmarkRow]
    images: int
    data: str
    threads: int | None
    machine: str
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["failures"] = [{"format": f, "precision": p, "error": e} for f, p, e in self.failures]
        return out

    def markdown(self) -> str:
        """The table as GitHub Markdown, with a line saying what it was measured on."""
        lines = [
            f"| {' | '.join(COLUMNS)} |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
            *(f"| {' | '.join(row.cells())} |" for row in self.rows),
            "",
            f"{self.images} held-out images ({self.data}); "
            f"{self.threads or 'default'} CPU thread(s); {self.machine}.",
        ]
        lines += [f"Failed: {f} {p}: {e}" for f, p, e in self.failures]
        return "\n".join(lines) + "\n"


def machine_name() -> str:
    """The CPU model and core count, and the GPUs TensorFlow sees."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = f"{cpu}, {os.cpu_count()} cores"
    from kerasvision.backend import gpus, tf

    for gpu in gpus():
        details = tf.config.experimental.get_device_details(gpu)
        name += f", {details.get('device_name', gpu.name)}"
    return name


def _existing(path: Path) -> Path:
    """``path``, or its encrypted ``<path>.enc`` when only that exists."""
    from kerasvision.protect.encryption import encrypted_path

    return encrypted_path(path) if not path.exists() and encrypted_path(path).exists() else path


def ensure_exports(
    run: Run,
    model_path: Path,
    *,
    export: bool = True,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[tuple[str, str, Path]], list[tuple[str, str, str]]]:
    """Every ``(format, precision, path)`` this machine builds, exporting what is missing.

    Returns:
        The artifacts that exist, in export order, and the failures.
    """
    from kerasvision.export import artifact_path, export_model, plan_exports

    out = run.export_dir
    plan = plan_exports(None)
    missing: dict[str, list[str]] = {}
    for fmt, precision in plan:
        if not _existing(artifact_path(out, model_path.stem, fmt, precision)).exists():
            missing.setdefault(fmt, []).append(precision)
    failures: list[tuple[str, str, str]] = []
    if export:
        for fmt, precisions in missing.items():
            report = export_model(
                run.path,
                formats=[fmt],
                precisions=precisions,
                verify_artifacts=False,
                progress=progress,
            )
            failures += report.failures
    found = [
        (fmt, precision, _existing(artifact_path(out, model_path.stem, fmt, precision)))
        for fmt, precision in plan
    ]
    return [(f, p, path) for f, p, path in found if path.exists()], failures


def throughput(predictor, images: np.ndarray, batch: int = 32, rounds: int = 5) -> float:
    """Images per second at ``batch`` images per call: the best of ``rounds`` timed rounds.

    Like ``Predictor.latency_ms`` it times the runtime's own work on a batch
    already in its input type (``timed_call``); a runtime that takes one
    image at a time (a fixed-batch TFLite file) is called once per image.
    """
    chunk = predictor.prepare(np.resize(images, (batch, *images.shape[1:])).astype(np.float32))
    step = min(batch, predictor.max_batch or batch)
    calls = [predictor.timed_call(chunk[i : i + step]) for i in range(0, batch, step)]
    for call in calls:  # warm-up
        call()
    best = float("inf")
    for _ in range(rounds):
        repeats, start = 0, time.perf_counter()
        while True:
            for call in calls:
                call()
            repeats += 1
            elapsed = time.perf_counter() - start
            if elapsed > 0.2 and repeats >= 3:
                break
        best = min(best, elapsed / repeats)
    return batch / best


def measure(predictor, images: np.ndarray, labels: np.ndarray, fmt: str, precision: str):
    """One ``BenchmarkRow`` for an opened artifact."""
    from kerasvision.export.verify import artifact_size

    probs = predictor.predict(images)
    return BenchmarkRow(
        format=fmt,
        precision=precision,
        path=str(predictor.path),
        size_mb=round(artifact_size(predictor.path) / 1e6, 4),
        accuracy=round(float(np.mean(probs.argmax(axis=1) == labels)), 6),
        latency_ms=round(predictor.latency_ms(images[0]), 4),
        images_per_s=round(throughput(predictor, images), 1),
    )


def benchmark_run(
    run_dir: str | Path,
    *,
    threads: int | None = None,
    export: bool = True,
    max_images: int | None = None,
    progress: Callable[[str], None] | None = None,
    key=None,
    verify_hash: bool = True,
) -> BenchmarkResult:
    """Exports (or reuses) every format this machine builds and measures each one.

    Args:
        run_dir: A finished run directory.
        threads: CPU threads for every runtime (TensorFlow, LiteRT,
            onnxruntime). Defaults to None (each runtime's choice).
        export: Export the formats missing from ``RUN/export/``; False
            measures only what is there. Defaults to True.
        max_images: Cap on the held-out images used for accuracy. Defaults to
            None (all of them).
        progress: Called with a line of text as each step starts. Defaults to None.
        key: AES key file of encrypted ``.enc`` exports. Defaults to None
            (``KV_MODEL_KEY``).
        verify_hash: Refuse exports that differ from ``export/manifest.json``.
            Defaults to True.

    Returns:
        The ``BenchmarkResult``, also written to ``RUN/benchmark.json`` and
        ``RUN/benchmark.md``.
    """
    from kerasvision.artifact import load_predictor

    say = progress or (lambda text: log.info(text))
    if threads is not None and threads < 1:
        raise bad_value("threads", f"must be at least 1, got {threads}")
    if max_images is not None and max_images < 1:
        raise bad_value("max_images", f"must be at least 1, got {max_images}")
    run = Run(run_dir)
    model_path = run.final_model()
    if threads:
        limit_tf_threads(threads)  # before TensorFlow starts working
    artifacts, failures = ensure_exports(run, model_path, export=export, progress=say)
    keras_model = load_predictor(model_path)
    data = heldout(keras_model.input_shape, keras_model.labels, run=run)
    say(f"reading the held-out images of {data.description}")
    images, labels = data.arrays(max_images)
    rows = []
    for fmt, precision, path in [("keras", "fp32", model_path), *artifacts]:
        say(f"measuring {path.name}")
        try:
            predictor = (
                keras_model
                if fmt == "keras"
                else load_predictor(path, threads=threads, key=key, verify_hash=verify_hash)
            )
            rows.append(measure(predictor, images, labels, fmt, precision))
        except KVError as error:
            failures.append((fmt, precision, str(error)))
    result = BenchmarkResult(
        run_dir=str(run_dir),
        rows=rows,
        images=len(images),
        data=data.description,
        threads=threads,
        machine=machine_name(),
        failures=failures,
    )
    write_json(run.benchmark_json, result.to_dict())
    write_text(run.benchmark_md, result.markdown())
    return result
