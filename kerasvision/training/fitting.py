"""Fitting a model phase by phase, resumable: compile, callbacks, ``model.fit``."""

from __future__ import annotations

import math
import sys

from kerasvision.backend import keras
from kerasvision.compress.pruning import pruning_callbacks
from kerasvision.config import TrainConfig
from kerasvision.data import DataSplits
from kerasvision.fileio import atomic_path
from kerasvision.run import Run
from kerasvision.training.callbacks import TimeBudget, create_callbacks
from kerasvision.training.optim import create_optimizer, create_schedule, peak_lr
from kerasvision.training.plan import Phase, TrainPlan
from kerasvision.training.precise_bn import PreciseBN


def compile_model(model, config: TrainConfig, steps_per_epoch: int, phase: Phase):
    """Compiles with the phase's optimizer, label-smoothed cross-entropy, top-1 and top-5.

    Args:
        model: What ``fit`` runs (a ``Distiller`` when distilling).
        config: The config with the global batch and LR (``TrainPlan.global_config``).
        steps_per_epoch: Optimizer steps per epoch.
        phase: The phase about to be fitted.

    Returns:
        The learning-rate schedule.
    """
    epochs = phase.end - phase.start
    lr = peak_lr(config) * phase.lr_scale
    schedule = create_schedule(config, steps_per_epoch, lr=lr, epochs=epochs)
    model.compile(
        optimizer=create_optimizer(config, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=accuracy_metrics(getattr(model, "student", model)),
    )
    return schedule


def accuracy_metrics(model) -> list:
    """``accuracy`` and ``top5`` (top-k with k = min(5, classes)) for ``model``."""
    k = min(5, model.output_shape[-1])
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        keras.metrics.TopKCategoricalAccuracy(k=k, name="top5"),
    ]


def fit(
    model,
    data: DataSplits,
    plan: TrainPlan,
    run: Run,
    student=None,
    best_from_step: int = 0,
) -> None:
    """Fits the model phase by phase; a finished phase is skipped on resume.

    Args:
        model: What ``fit`` runs (a ``Distiller`` when distilling).
        data: The run's data.
        plan: The run's plan: phases, steps, and the global batch and LR.
        run: Where this process writes; the state it resumes from (finished
            phases, backups) is read from ``plan.config.run_dir``, the
            chief's run directory.
        student: The network ``model`` trains. Defaults to None (``model``).
        best_from_step: The optimizer step from which the best checkpoint
            may be taken (a pruning run's ``end_step``). Defaults to 0.
    """
    student = model if student is None else student
    config = plan.global_config
    shared = Run(plan.config.run_dir)
    steps = plan.steps_per_epoch
    verbose = 1 if sys.stdout.isatty() else 2
    phases = plan.phases
    for phase in phases:
        done = run.checkpoints / f"{phase.name}.weights.h5"
        if phase is not phases[-1] and (shared.checkpoints / done.name).is_file():
            student.load_weights(shared.checkpoints / done.name)
            continue
        if any(layer.name == "backbone" for layer in student.layers):
            student.get_layer("backbone").trainable = not phase.freeze_backbone
        schedule = compile_model(model, config, steps, phase)
        budget = None
        if config.time and phase is phases[-1]:
            budget = TimeBudget(config.time, phase.end, steps, schedule, phase.start)
        callbacks = create_callbacks(
            run.path,
            images_per_epoch=data.counts["train"],
            patience=config.patience,
            time_budget=budget,
            backup_name=f"backup-{phase.name}",
            resume_dir=shared.path,
            best_from_epoch=max(0, math.ceil(best_from_step / steps) - 1),
        )
        if config.precise_bn:  # BatchNorm statistics of the final weights at each validation
            callbacks.insert(0, PreciseBN(student, data.train, config.precise_bn))
        # First, so that the weights are masked before the epoch is logged and saved.
        callbacks[:0] = pruning_callbacks(student)
        model.fit(
            data.train,
            validation_data=data.val,
            epochs=phase.end,
            initial_epoch=phase.start,
            steps_per_epoch=data.train_steps,
            callbacks=callbacks,
            verbose=verbose,
        )
        if phase is not phases[-1]:
            with atomic_path(done) as tmp:
                student.save_weights(tmp)
