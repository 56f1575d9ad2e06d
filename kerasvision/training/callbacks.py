"""Training callbacks and ``create_callbacks``, which wires them for a run."""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path

from kerasvision.backend import keras
from kerasvision.compress.pruning import strip
from kerasvision.fileio import write_text
from kerasvision.models.saving import save_model
from kerasvision.run import HISTORY
from kerasvision.training.distribute import from_chief

log = logging.getLogger(__name__)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model whenever ``monitor`` improves, atomically (temp file, rename).

    A model being pruned is saved without its pruning wrappers, as the final
    model is, and only from ``from_epoch`` on: before the target sparsity is
    reached a denser model would win on accuracy.

    Args:
        path: The ``.keras`` file to write.
        monitor: The logged metric to maximize. Defaults to ``val_accuracy``.
        best: The best value so far (from an earlier phase or an interrupted
            run), which a new checkpoint must beat. Defaults to -inf.
        from_epoch: First epoch (0-based) that may be saved. Defaults to 0.
    """

    def __init__(
        self,
        path: Path,
        monitor: str = "val_accuracy",
        best: float = -math.inf,
        from_epoch: int = 0,
    ):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.best = best
        self.from_epoch = from_epoch

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if epoch < self.from_epoch or value is None or value <= self.best:
            return
        self.best = float(value)
        save_model(strip(getattr(self.model, "student", self.model)), self.path)


class HistoryCSV(keras.callbacks.Callback):
    """Writes ``history.csv`` (one row per epoch) atomically after every epoch.

    On a resumed run, rows of epochs that are about to be trained again are
    dropped, so an epoch never appears twice.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            self.rows = [r for r in read_history(self.path) if int(r["epoch"]) < epoch + 1]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        if "lr" not in row:
            row["lr"] = current_lr(self.model.optimizer)
        self.rows.append(row)
        buf = io.StringIO()
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buf.getvalue())


def current_lr(optimizer) -> float:
    """The learning rate the optimizer uses at its current step."""
    lr = optimizer.learning_rate
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        lr = lr(optimizer.iterations)
    return float(keras.backend.get_value(lr))


def read_history(path: Path) -> list[dict]:
    """Rows of a ``history.csv`` as dicts of floats (``epoch`` as int); [] if absent."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            {k: (int(float(v)) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
            for row in csv.DictReader(fh)
        ]


class Throughput(keras.callbacks.Callback):
    """Adds ``images_per_s`` (training images per second, validation excluded) to the logs."""

    def __init__(self, images_per_epoch: int):
        super().__init__()
        self.images = images_per_epoch
        self._start = 0.0
        self._train_s = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._train_s = None

    def on_test_begin(self, logs=None):
        if self._train_s is None:
            self._train_s = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._train_s or (time.perf_counter() - self._start)
        if logs is not None:
            logs["images_per_s"] = self.images / max(seconds, 1e-9)


class TimeBudget(keras.callbacks.Callback):
    """Stops training when the next epoch would overrun a time budget.

    After each epoch it estimates how many epochs fit in the budget (the mean
    epoch time, ignoring the slower first epoch once there are others) and
    shortens the cosine schedule to end there.

    Args:
        minutes: The budget.
        epochs: Epochs asked for (the upper bound).
        steps_per_epoch: Optimizer steps per epoch.
        schedule: A ``WarmupCosine`` to shorten, or None.
        schedule_start: The epoch at which the schedule's step count starts
            (a fine-tuning phase's optimizer starts at 0). Defaults to 0.
        clock: Seconds source. Defaults to ``time.perf_counter``.
    """

    def __init__(
        self,
        minutes: float,
        epochs: int,
        steps_per_epoch: int,
        schedule=None,
        schedule_start: int = 0,
        clock=time.perf_counter,
    ):
        super().__init__()
        self.clock = clock
        self.schedule_start = schedule_start
        self.budget = minutes * 60.0
        self.epochs = epochs
        self.steps = steps_per_epoch
        self.schedule = schedule
        self.times: list[float] = []
        self._start = 0.0
        self._epoch_start = 0.0
        self.planned = epochs
        self._first: int | None = None

    def on_train_begin(self, logs=None):
        self._start = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.clock()
        if self._first is None:
            self._first = epoch

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        self.times.append(now - self._epoch_start)
        typical = self.times[1:] or self.times
        per_epoch = sum(typical) / len(typical)
        elapsed = now - self._start
        done = epoch + 1 - self._first
        fit = done + int(max(self.budget - elapsed, 0.0) // per_epoch)
        # Workers of a multi-worker run follow the chief's clock, so all stop together.
        planned = min(self.epochs, self._first + fit)
        self.planned = from_chief(planned, self.model.distribute_strategy)
        if self.schedule is not None and hasattr(self.schedule, "set_total_steps"):
            self.schedule.set_total_steps((self.planned - self.schedule_start) * self.steps)
        if epoch + 1 >= self.planned:
            log.info("time budget: stopping after epoch %d", epoch + 1)
            self.model.stop_training = True


def create_callbacks(
    run_dir: Path,
    *,
    images_per_epoch: int,
    patience: int = 0,
    time_budget: TimeBudget | None = None,
    backup_name: str = "backup",
    resume_dir: Path | None = None,
    best_from_epoch: int = 0,
) -> list[keras.callbacks.Callback]:
    """The callbacks of a training phase, in the order they must run.

    ``Throughput`` comes before the loggers so they see ``images_per_s``; the
    epoch's history row and best checkpoint are written before BackupAndRestore
    marks the epoch done, so a crash in between re-runs the epoch and
    ``HistoryCSV`` replaces its row, rather than losing the row.

    Args:
        run_dir: The run directory.
        images_per_epoch: Training images per epoch (for ``images_per_s``).
        patience: Early-stopping patience on ``val_accuracy``; 0 disables it.
            Defaults to 0.
        time_budget: A ``TimeBudget`` to include. Defaults to None.
        backup_name: Folder under ``checkpoints/`` for BackupAndRestore.
            Defaults to ``backup``.
        resume_dir: The run directory that holds the backups and the history
            the run resumes from: the chief's under multi-worker training,
            where every worker must restore the same state while writing its
            own files to ``run_dir``. Defaults to None (``run_dir``).
        best_from_epoch: First epoch (0-based) the best checkpoint may come
            from, e.g. the first at a pruning run's target sparsity. Defaults to 0.

    Returns:
        The callback list.
    """
    history = run_dir / HISTORY
    resume_dir = run_dir if resume_dir is None else resume_dir
    rows = read_history(resume_dir / HISTORY)
    best = max((r["val_accuracy"] for r in rows if "val_accuracy" in r), default=-math.inf)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        Throughput(images_per_epoch),
        HistoryCSV(history),
        BestCheckpoint(
            run_dir / "checkpoints" / "best.keras", best=best, from_epoch=best_from_epoch
        ),
        keras.callbacks.BackupAndRestore(str(resume_dir / "checkpoints" / backup_name)),
        keras.callbacks.TensorBoard(
            str(run_dir / "tensorboard"), write_graph=False, profile_batch=0
        ),
    ]
    if patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                "val_accuracy", patience=patience, mode="max", restore_best_weights=True
            )
        )
    if time_budget is not None:
        callbacks.append(time_budget)
    return callbacks
