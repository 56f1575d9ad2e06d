"""A run directory: the one owner of its layout and of what ``metrics.json`` holds.

``Run(path)`` names every file of a run (config, labels, stage models, the
final model, ``export/`` and ``eval/``) and makes the guarded writes that
training does; nothing outside this module spells one of those file names.
``RunMetrics`` is the typed content of ``metrics.json``: training writes it,
``kv train``'s summary, ``kv report`` and the benchmarks read it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kerasvision.errors import KVError, bad_value
from kerasvision.fileio import write_json, write_text, write_yaml

CONFIG = "config.yaml"
LABELS = "labels.txt"
METRICS = "metrics.json"
HISTORY = "history.csv"
CURVES = "training_curves.png"
VERIFICATION = "verification.json"
DEFAULT_MODEL = "model.keras"


# --- metrics.json -------------------------------------------------------------


@dataclass
class SplitMetrics:
    """Loss, top-1 and top-5 accuracy of a model on one split.

    Attributes:
        accuracy: Top-1 accuracy (0-1).
        top5: Top-k accuracy with k = min(5, classes).
        loss: The training loss on this split. Defaults to None.
    """

    accuracy: float
    top5: float
    loss: float | None = None


@dataclass
class Distribution:
    """How a run was spread over devices.

    Attributes:
        strategy: The ``tf.distribute`` strategy's name (``default`` for one device).
        replicas: Replicas in sync.
        workers: Machines (``TF_CONFIG`` workers).
        global_batch_size: Images per step over all replicas.
        lr: The global peak learning rate.
    """

    strategy: str = "default"
    replicas: int = 1
    workers: int = 1
    global_batch_size: int = 0
    lr: float = 0.0


@dataclass
class TeacherFigures:
    """The teacher of a distilled run: where it came from and its size."""

    path: str
    params: int


@dataclass
class PruningFigures:
    """What pruning reached (``kerasvision.compress.stage.report``).

    Attributes:
        target: The target sparsity.
        structure: ``unstructured`` or ``2:4``.
        sparsity: Zeros among the pruned weights.
        model_sparsity: Zeros among all weights of the model.
        gzip_bytes: gzip size of the saved (stripped) model file.
        exclude: Layers kept dense.
        schedule: ``begin_step``, ``end_step``, ``frequency``.
        layers: Per-layer sparsity.
    """

    target: float
    structure: str
    sparsity: float
    model_sparsity: float
    gzip_bytes: int
    exclude: list[str] = field(default_factory=list)
    schedule: dict[str, int] = field(default_factory=dict)
    layers: dict[str, Any] = field(default_factory=dict)


@dataclass
class QATFigures:
    """A quantization-aware run: ``qat`` or ``pqat``, and the layers left float."""

    scheme: str
    float_layers: list[str] = field(default_factory=list)
    inlined: list[str] = field(default_factory=list)


_NESTED = {
    "val": SplitMetrics,
    "test": SplitMetrics,
    "distribution": Distribution,
    "teacher": TeacherFigures,
    "pruning": PruningFigures,
    "qat": QATFigures,
}


def _build(cls, data: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RunMetrics:
    """The content of a run's ``metrics.json``.

    Attributes:
        model: The registered model name.
        dataset: The dataset spec.
        classes: Number of classes.
        input_shape: ``[height, width, channels]``.
        params: Parameters of the saved model (no pruning masks or QAT ranges).
        counts: Images per split.
        epochs: Epochs trained.
        val: Figures of the saved float32 model on the validation split.
        final_model: File name of the run's final model.
        test: The same on the test split, when the data has one. Defaults to None.
        skipped_files: Files of the dataset that were not images. Defaults to 0.
        best_val_accuracy: Best validation accuracy during training. Defaults to None.
        train_seconds: Wall time of fitting. Defaults to 0.
        images_per_s: Median training throughput after the first epoch. Defaults to None.
        precision_policy: The Keras dtype policy trained under. Defaults to ``float32``.
        distribution: Devices and global batch. Defaults to ``Distribution()``.
        teacher: The teacher of a distilled run. Defaults to None.
        distill: ``alpha`` and ``temperature`` of a distilled run. Defaults to None.
        init: The model a fine-tuning run started from. Defaults to None.
        pruning: What pruning reached. Defaults to None.
        qat: The quantization-aware scheme. Defaults to None.
        stages: Each stage's own metrics, in training order. Defaults to None.
        budget_minutes: The time budget (``time``) this run or stage was
            given; a staged run's is the whole budget. Defaults to None.
        wall_seconds: Wall time of a staged run, every stage included.
            Defaults to None.
    """

    model: str
    dataset: str
    classes: int
    input_shape: list[int]
    params: int
    counts: dict[str, int]
    epochs: int
    val: SplitMetrics
    final_model: str = DEFAULT_MODEL
    test: SplitMetrics | None = None
    skipped_files: int = 0
    best_val_accuracy: float | None = None
    train_seconds: float = 0.0
    images_per_s: float | None = None
    precision_policy: str = "float32"
    distribution: Distribution = field(default_factory=Distribution)
    teacher: TeacherFigures | None = None
    distill: dict[str, float] | None = None
    init: str | None = None
    pruning: PruningFigures | None = None
    qat: QATFigures | None = None
    stages: dict[str, RunMetrics] | None = None
    budget_minutes: float | None = None
    wall_seconds: float | None = None

    @property
    def held_out(self) -> tuple[str, SplitMetrics]:
        """``(split name, figures)`` of the test split when there is one, else validation."""
        return ("test", self.test) if self.test is not None else ("val", self.val)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, without the entries that are None."""
        data = dataclasses.asdict(self)
        if self.stages is not None:
            data["stages"] = {name: stage.to_dict() for name, stage in self.stages.items()}
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMetrics:
        """Reads ``to_dict`` output (unknown keys are ignored, so older files load)."""
        values = dict(data)
        for key, kind in _NESTED.items():
            if isinstance(values.get(key), dict):
                values[key] = _build(kind, values[key])
        if isinstance(values.get("stages"), dict):
            values["stages"] = {n: cls.from_dict(s) for n, s in values["stages"].items()}
        try:
            return _build(cls, values)
        except TypeError as error:
            raise KVError(f"metrics.json is incomplete: {error}") from None


# --- the run directory ----------------------------------------------------------


class Run:
    """A run directory: its paths, what it holds, and the guarded writes of training.

    Args:
        path: The folder.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    config_file = property(lambda self: self.path / CONFIG)
    labels_file = property(lambda self: self.path / LABELS)
    metrics_file = property(lambda self: self.path / METRICS)
    history = property(lambda self: self.path / HISTORY)
    checkpoints = property(lambda self: self.path / "checkpoints")
    curves = property(lambda self: self.path / CURVES)
    replicas = property(lambda self: self.checkpoints / "replicas.json")
    export_dir = property(lambda self: self.path / "export")
    verification_json = property(lambda self: self.export_dir / VERIFICATION)
    eval_dir = property(lambda self: self.path / "eval")
    cache_dir = property(lambda self: self.path / "cache")
    benchmark_json = property(lambda self: self.path / "benchmark.json")
    benchmark_md = property(lambda self: self.path / "benchmark.md")
    report_html = property(lambda self: self.path / "report.html")

    def model_path(self, stage: str = "model") -> Path:
        """``<stage>.keras``: a stage's model, or ``model.keras`` for a run of one stage."""
        return self.path / f"{stage}.keras"

    def stage(self, name: str) -> Run:
        """The run directory of one stage of a staged run (``stages/<name>/``)."""
        return Run(self.path / "stages" / name)

    # -- what a run holds --

    @staticmethod
    def is_run(path: str | Path) -> bool:
        """Whether ``path`` is a run directory (it has a config and labels)."""
        path = Path(path)
        return (path / CONFIG).is_file() and (path / LABELS).is_file()

    @classmethod
    def of(cls, artifact: str | Path) -> Run | None:
        """The run an artifact belongs to: its folder, or the run above ``export/``."""
        path = Path(artifact).resolve()
        for folder in (path, path.parent, path.parent.parent, path.parent.parent.parent):
            if cls.is_run(folder):
                return cls(folder)
        return None

    @property
    def finished(self) -> bool:
        return self.metrics_file.is_file()

    def labels(self) -> list[str]:
        """The class names, index = class id."""
        if not self.labels_file.is_file():
            raise KVError(f"{self.path} has no {LABELS}; is it a run directory?")
        text = self.labels_file.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line]

    def config_dict(self) -> dict[str, Any]:
        """``config.yaml`` as written (a staged run's top level, stages included)."""
        if not self.config_file.is_file():
            raise KVError(f"{self.path} is not a run directory (no {CONFIG})")
        try:
            data = yaml.safe_load(self.config_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            raise KVError(f"{self.config_file} is not valid YAML") from None
        if not isinstance(data, dict):
            raise KVError(f"{self.config_file} must hold a mapping of config keys")
        return data

    def config(self):
        """The run's ``TrainConfig`` (a staged run's top level names its data and split)."""
        from kerasvision.config import config_from_dict

        data = self.config_dict()
        data.pop("stages", None)
        return config_from_dict(data)

    def metrics(self) -> RunMetrics:
        """``metrics.json``, typed."""
        if not self.finished:
            raise KVError(f"{self.path} has no {METRICS}; is the run finished?")
        try:
            data = json.loads(self.metrics_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise KVError(f"{self.metrics_file} is not valid JSON") from None
        return RunMetrics.from_dict(data)

    def final_model(self) -> Path:
        """The run's final model (``metrics.json``'s ``final_model``, else ``model.keras``)."""
        if not self.config_file.is_file():
            raise KVError(f"{self.path} is not a run directory (no {CONFIG}) nor a model file")
        name = DEFAULT_MODEL
        if self.finished:
            name = json.loads(self.metrics_file.read_text(encoding="utf-8")).get(
                "final_model", name
            )
        model = self.path / name
        if not model.is_file():
            raise KVError(f"{self.path} holds no trained model ({name}); is the run finished?")
        return model

    def eval_folder(self, artifact: str | Path) -> Path:
        """Where ``kv eval`` writes the results of one of this run's artifacts."""
        return self.eval_dir / Path(artifact).name.replace(".", "-")

    # -- guarded writes of training --

    def check_writable(self, *, overwrite: bool = False, replicas: int | None = None) -> None:
        """Raises KVError when this folder cannot take a run (checked before any work).

        ``replicas`` is the replica count of the run about to start: an
        unfinished run resumes only on as many replicas as it was started on,
        since the global batch, and with it the steps per epoch and the
        learning-rate schedule its backups hold, scale with the count.
        """
        if self.path.exists() and not self.path.is_dir():
            raise bad_value("out", f"{self.path} is a file, not a folder")
        is_run = self.config_file.is_file()
        # A disk cache (cache/) is made while the data is opened, before the run starts.
        contents = (
            [p for p in self.path.iterdir() if p.name != "cache"] if self.path.is_dir() else []
        )
        if contents and not is_run:
            raise bad_value("out", f"{self.path} is not empty and holds no run; choose another")
        if self.finished and not overwrite:
            raise KVError(
                f"{self.path} already holds a finished run; pass --overwrite or another --out"
            )
        if is_run and not overwrite and replicas is not None and self.replicas.is_file():
            before = json.loads(self.replicas.read_text(encoding="utf-8")).get("replicas")
            if before != replicas:
                raise KVError(
                    f"{self.path} holds an unfinished run trained on {before} replica(s), not "
                    f"{replicas}: resuming would change its global batch and learning-rate "
                    f"schedule; resume on the same devices and workers, or pass --overwrite"
                )

    def record_replicas(self, count: int) -> None:
        """Notes the replica count an unfinished run trains on (see ``check_writable``)."""
        write_json(self.replicas, {"replicas": count})

    def prepare(self, config: dict[str, Any], *, overwrite: bool = False) -> bool:
        """Creates the folder or checks it can be resumed; returns True when resuming.

        A finished run is kept unless ``overwrite``; an unfinished one is resumed
        only with the same config; a folder that is not a run is never touched.
        """
        self.check_writable(overwrite=overwrite)
        is_run = self.config_file.is_file()
        if is_run and overwrite:
            shutil.rmtree(self.path)
            is_run = False
        if is_run:
            from kerasvision.config import upgrade_keys  # a run written with older keys

            old = upgrade_keys(self.config_dict())
            changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            if changed:
                raise KVError(
                    f"{self.path} holds an unfinished run with another config "
                    f"(differs in: {', '.join(changed)}); rerun the same command to resume, "
                    f"or pass --overwrite"
                )
            return True
        self.path.mkdir(parents=True, exist_ok=True)
        write_yaml(self.config_file, config)
        return False

    def write_labels(self, class_names: list[str]) -> None:
        write_text(self.labels_file, "".join(f"{name}\n" for name in class_names))

    def copy_labels_from(self, other: Run) -> None:
        shutil.copyfile(other.labels_file, self.labels_file)

    def write_metrics(self, metrics: RunMetrics) -> None:
        write_json(self.metrics_file, metrics.to_dict())
