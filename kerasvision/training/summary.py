"""What a finished run records: every key of ``metrics.json`` is built here.

``run_metrics`` describes a one-stage run (history, held-out evaluation,
teacher, init, compression, distribution) and ``staged_metrics`` a run of
stages; the trainer only writes what they return.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any

from kerasvision.backend import keras
from kerasvision.compress import stage as compression
from kerasvision.compress.qat import model_params
from kerasvision.config import TrainConfig
from kerasvision.data import DataSplits
from kerasvision.models.saving import float32_copy
from kerasvision.run import Run, RunMetrics
from kerasvision.training.callbacks import read_history
from kerasvision.training.distribute import describe
from kerasvision.training.fitting import accuracy_metrics


def evaluation_model(model, final, config: TrainConfig, policy: str):
    """The model whose held-out figures ``metrics.json`` reports.

    Under mixed precision the trained ``model`` computes in float16 or
    bfloat16, while the saved model (and every export of it) runs in float32:
    the float32 copy of ``final`` that ``save_model`` writes is evaluated then,
    so ``metrics.json`` says what ``kv eval`` measures.
    """
    if policy == "float32":
        return model
    copy = float32_copy(final)
    copy.compile(
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=accuracy_metrics(copy),
    )
    return copy


def evaluate_splits(model, data: DataSplits) -> dict[str, dict[str, float]]:
    """Loss, accuracy and top-5 on validation, and on test when it is a separate split."""
    out = {"val": model.evaluate(data.val, verbose=0, return_dict=True)}
    if "test" in data.counts:
        out["test"] = model.evaluate(data.test, verbose=0, return_dict=True)
    keep = ("loss", "accuracy", "top5")
    return {split: {k: round(float(m[k]), 6) for k in keep if k in m} for split, m in out.items()}


def summarize(config, data, model, final, run: Run, seconds: float, policy: str) -> dict[str, Any]:
    """The history, data and held-out figures of a run's ``metrics.json``.

    ``model`` is what was trained (a ``Distiller`` when distilling) and
    ``final`` the model saved from it; the held-out figures come from
    ``evaluation_model`` and the parameter count from ``final`` (without
    pruning masks or QAT ranges).
    """
    rows = read_history(run.history)
    speeds = [r["images_per_s"] for r in rows if "images_per_s" in r]
    steady = speeds[1:] or speeds
    teacher = getattr(model, "teacher", None)
    distill = {}
    if teacher is not None:
        distill = {
            "teacher": {"path": config.teacher, "params": int(teacher.count_params())},
            "distill": {"alpha": model.alpha, "temperature": model.temperature},
        }
    return {
        "model": config.model,
        "dataset": config.dataset,
        "classes": data.num_classes,
        "input_shape": list(data.input_shape),
        "params": model_params(final),
        **distill,
        "counts": data.counts,
        "skipped_files": data.source.skipped if data.source else 0,
        "epochs": len(rows),
        **evaluate_splits(evaluation_model(model, final, config, policy), data),
        "best_val_accuracy": max((r.get("val_accuracy", 0.0) for r in rows), default=None),
        "train_seconds": round(seconds, 1),
        "images_per_s": round(statistics.median(steady), 1) if steady else None,
        "precision_policy": policy,
        "final_model": run.model_path().name,
    }


def run_metrics(
    config: TrainConfig,
    data: DataSplits,
    model,
    final,
    run: Run,
    *,
    seconds: float,
    policy: str,
    compressed: compression.Compression | None,
    strategy,
) -> RunMetrics:
    """The whole ``metrics.json`` of a one-stage run.

    Args:
        config: The resolved config (``TrainPlan.config``).
        data: The run's data.
        model: What was trained (a ``Distiller`` when distilling).
        final: The saved model.
        run: The run directory (its history, its saved model).
        seconds: Training time of this invocation.
        policy: The precision policy trained under.
        compressed: What compression did (``compress.stage.prepare``), or None.
        strategy: The ``tf.distribute`` strategy trained under.
    """
    metrics = summarize(config, data, model, final, run, seconds, policy)
    if config.init:
        metrics["init"] = config.init
    metrics.update(compression.report(compressed, config, run.model_path()))
    metrics["distribution"] = describe(strategy, config)
    metrics["budget_minutes"] = config.time
    return RunMetrics.from_dict(metrics)


def staged_metrics(
    stages: dict[str, RunMetrics],
    final: Path,
    budget_minutes: float | None = None,
    wall_seconds: float | None = None,
) -> RunMetrics:
    """The ``metrics.json`` of a run of stages: the last stage's, with every stage's.

    Args:
        stages: Each stage's metrics, in training order.
        final: The run's final model file (the last stage's copy).
        budget_minutes: The whole run's time budget. Defaults to None.
        wall_seconds: The whole run's wall time. Defaults to None.
    """
    last = stages[list(stages)[-1]]
    return dataclasses.replace(
        last,
        stages=dict(stages),
        final_model=final.name,
        budget_minutes=budget_minutes,
        wall_seconds=None if wall_seconds is None else round(wall_seconds, 1),
    )
