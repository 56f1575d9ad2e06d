"""``train(config)``: the training entry point that ``kv train`` calls.

It wires the factories together: data (``create_dataset``), model
(``create_model``), schedule and optimizer (``create_schedule``,
``create_optimizer``) and callbacks (``create_callbacks``), fits in one or two
phases, and writes the run directory.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerasvision.backend import gpus, keras, tf
from kerasvision.compress import stage as compression
from kerasvision.compress.pruning import pruning_callbacks
from kerasvision.compress.qat import model_params
from kerasvision.config import TrainConfig, compression_stages, stage_configs
from kerasvision.data import DataSplits, build_pipelines, open_source, resolve_size
from kerasvision.distill import Distiller
from kerasvision.errors import KVError
from kerasvision.fileio import atomic_path
from kerasvision.models import create_model, get_model_spec, list_models
from kerasvision.models.saving import float32_copy, load_model, save_model
from kerasvision.run import Run
from kerasvision.training.callbacks import TimeBudget, create_callbacks, read_history
from kerasvision.training.distribute import (
    barrier,
    create_strategy,
    describe,
    is_chief,
    is_multi_worker,
    remove_worker_path,
    scale_config,
    worker_path,
)
from kerasvision.training.optim import create_optimizer, create_schedule, peak_lr
from kerasvision.training.plots import plot_history
from kerasvision.training.rundir import RunDir

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        run_dir: The run directory.
        metrics: The content of ``metrics.json``.
        model: The trained model.
        resumed: Whether the run continued an interrupted one.
    """

    run_dir: Path
    metrics: dict[str, Any]
    model: Any
    resumed: bool = False


@dataclass(frozen=True)
class Phase:
    name: str
    start: int
    end: int
    lr_scale: float
    freeze_backbone: bool


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def setup_precision(config: TrainConfig) -> str:
    """Sets and returns the global Keras dtype policy for training.

    Pruning and quantization-aware training always run in float32: tfmot's
    masks and fake-quantization ranges are float32 variables.
    """
    mode = config.mixed_precision
    if config.prune or config.qat != "off":
        if mode not in ("auto", "off"):
            log.info("pruning and QAT train in float32; mixed_precision %s is not used", mode)
        mode = "off"
    if mode == "auto":
        mode = "float16" if gpus() else ("bfloat16" if cpu_has_bf16() else "off")
    policy = "float32" if mode == "off" else f"mixed_{mode}"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def load_data(config: TrainConfig, cache_dir: Path | None = None) -> DataSplits:
    """Opens the config's dataset at the model's input size and channels."""
    spec = get_model_spec(config.model)
    source = open_source(
        config.dataset,
        data_dir=config.data_dir,
        seed=config.split_seed,
        val_split=config.val_split,
        test_split=config.test_split,
    )
    size = config.image_size or resolve_size(source, spec.default_size)
    pretrained = spec.pretrained and config.weights != "none"
    channels = config.channels or (3 if pretrained else source.native_channels)
    return build_pipelines(
        source,
        image_size=size,
        channels=channels,
        batch_size=config.batch_size,
        augment=config.augment,
        cache=config.cache,
        cache_dir=cache_dir,
        seed=config.seed,
    )


def build_model(config: TrainConfig, data: DataSplits):
    """Creates the configured model for the data's classes and input shape."""
    options = {"weights": config.weights, "width": config.width}
    if config.dropout is not None:
        options["dropout"] = config.dropout
    return create_model(
        config.model, num_classes=data.num_classes, input_shape=data.input_shape, **options
    )


def compile_model(model, config: TrainConfig, steps_per_epoch: int, phase: Phase):
    """Compiles with the phase's optimizer, label-smoothed cross-entropy, top-1 and top-5."""
    epochs = phase.end - phase.start
    lr = peak_lr(config) * phase.lr_scale
    schedule = create_schedule(config, steps_per_epoch, lr=lr, epochs=epochs)
    model.compile(
        optimizer=create_optimizer(config, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=_metrics(getattr(model, "student", model)),
    )
    return schedule


def _metrics(model) -> list:
    k = min(5, model.output_shape[-1])
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        keras.metrics.TopKCategoricalAccuracy(k=k, name="top5"),
    ]


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
        metrics=_metrics(copy),
    )
    return copy


def plan_phases(model, config: TrainConfig) -> list[Phase]:
    """One phase, or a frozen-backbone phase then fine-tuning for pretrained models.

    A run that starts from a trained model (``init``) is one fine-tuning phase
    at ``fine_tune_lr`` times the learning rate; pruning and QAT runs have no
    frozen phase. With ``freeze_epochs >= epochs`` the backbone stays frozen
    for the whole run (only the head trains).
    """
    if config.init:
        return [Phase("fine_tune", 0, config.epochs, config.fine_tune_lr, False)]
    has_backbone = any(layer.name == "backbone" for layer in model.layers)
    compressing = config.prune or config.qat != "off"
    if has_backbone and not compressing and config.weights != "none" and config.freeze_epochs:
        if config.freeze_epochs >= config.epochs:
            return [Phase("frozen", 0, config.epochs, 1.0, True)]
        return [
            Phase("frozen", 0, config.freeze_epochs, 1.0, True),
            Phase("fine_tune", config.freeze_epochs, config.epochs, config.fine_tune_lr, False),
        ]
    return [Phase("train", 0, config.epochs, 1.0, False)]


def fit(
    model,
    data: DataSplits,
    config: TrainConfig,
    run: RunDir,
    student=None,
    best_from_step: int = 0,
) -> None:
    """Fits the model phase by phase; a finished phase is skipped on resume.

    ``model`` is what ``fit`` runs (a ``Distiller`` when distilling) and
    ``student`` the network it trains (``model`` itself by default).
    ``best_from_step`` is the optimizer step from which the best checkpoint
    may be taken (a pruning run's ``end_step``).
    ``config.batch_size`` and ``config.lr`` are global (``scale_config``).
    ``run`` is where this process writes; the state it resumes from (finished
    phases, backups) is read from ``config.run_dir``, the chief's run directory.
    """
    student = model if student is None else student
    shared = RunDir(config.run_dir)
    steps = math.ceil(data.counts["train"] / config.batch_size)
    verbose = 1 if sys.stdout.isatty() else 2
    phases = plan_phases(student, config)
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
        # First, so that the weights are masked before the epoch is logged and saved.
        callbacks[:0] = pruning_callbacks(student)
        model.fit(
            data.train,
            validation_data=data.val,
            epochs=phase.end,
            initial_epoch=phase.start,
            callbacks=callbacks,
            verbose=verbose,
        )
        if phase is not phases[-1]:
            with atomic_path(done) as tmp:
                student.save_weights(tmp)


def evaluate_splits(model, data: DataSplits) -> dict[str, dict[str, float]]:
    """Loss, accuracy and top-5 on validation, and on test when it is a separate split."""
    out = {"val": model.evaluate(data.val, verbose=0, return_dict=True)}
    if "test" in data.counts:
        out["test"] = model.evaluate(data.test, verbose=0, return_dict=True)
    keep = ("loss", "accuracy", "top5")
    return {split: {k: round(float(m[k]), 6) for k in keep if k in m} for split, m in out.items()}


def summarize(
    config, data, model, final, run: RunDir, seconds: float, policy: str
) -> dict[str, Any]:
    """Builds ``metrics.json`` from the history and an evaluation of the run's models.

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


def resolve_config(config: TrainConfig, data: DataSplits) -> TrainConfig:
    """The config with every default made explicit, as written to ``config.yaml``."""
    return dataclasses.replace(
        config,
        image_size=data.image_size,
        channels=data.channels,
        lr=peak_lr(config),
        out=str(config.run_dir),
    )


def _clean_checkpoints(run: RunDir) -> None:
    """Removes phase weights and the empty backup folders of a finished run."""
    run.replicas.unlink(missing_ok=True)
    for leftover in run.checkpoints.glob("*.weights.h5"):
        leftover.unlink()
    for backup in run.checkpoints.glob("backup-*"):
        if backup.is_dir() and not any(backup.iterdir()):
            backup.rmdir()


def load_trained(spec: str, role: str = "model"):
    """Loads a trained model from a run directory (its final model) or a model file.

    Args:
        spec: A run directory or a ``.keras``/``.h5``/SavedModel path.
        role: What the model is for, in error messages (``teacher``, ``init``
            model). Defaults to ``model``.
    """
    path = Path(spec)
    if Run(path).config_file.is_file():
        path = Run(path).final_model()
    if not path.exists():
        raise KVError(f"{role} not found: {spec} (give a run directory or a model file)")
    try:
        return load_model(path)
    except (OSError, ValueError) as exc:
        raise KVError(f"cannot load the {role} {path}: {str(exc).splitlines()[0]}") from None


def load_teacher(spec: str):
    """Loads a teacher from a run directory (its final model) or a model file."""
    return load_trained(spec, "teacher")


def init_config(config: TrainConfig, model) -> TrainConfig:
    """The config of a run that starts from ``model``: its input size, channels and name."""
    height, width, channels = model.input_shape[1:4]
    if height != width or height is None:
        raise KVError(f"the init model takes {height}x{width} images; kv trains square inputs")
    names = {"model": model.name} if model.name in list_models() else {}
    return dataclasses.replace(
        config,
        image_size=config.image_size or height,
        channels=config.channels or channels,
        **names,
    )


def check_init(model, data: DataSplits):
    """Returns ``model`` when it fits the data's classes and input shape, else raises KVError."""
    if model.output_shape[-1] != data.num_classes:
        raise KVError(
            f"the init model predicts {model.output_shape[-1]} classes, the data has "
            f"{data.num_classes}"
        )
    if tuple(model.input_shape[1:]) != tuple(data.input_shape):
        raise KVError(
            f"the init model takes {model.input_shape[1:]} inputs, the data is "
            f"{tuple(data.input_shape)}; leave image_size and channels unset"
        )
    return model


def make_distiller(config: TrainConfig, student, data: DataSplits):
    """Wraps ``student`` in a ``Distiller`` with the config's teacher."""
    teacher = load_teacher(config.teacher)
    if teacher.output_shape[-1] != data.num_classes:
        raise KVError(
            f"the teacher predicts {teacher.output_shape[-1]} classes, the data has "
            f"{data.num_classes}"
        )
    return Distiller(
        teacher=teacher,
        student=student,
        alpha=config.distill.alpha,
        temperature=config.distill.temperature,
        label_smoothing=config.label_smoothing,
    )


def train_single(config: TrainConfig, *, overwrite: bool = False) -> TrainResult:
    """Trains one model (distilled when ``config.teacher`` is set) into ``config.run_dir``.

    Runs under the current ``tf.distribute`` strategy (``train`` enters it);
    on a non-chief worker the run directory is that worker's scratch copy.
    """
    keras.utils.set_random_seed(config.seed)
    policy = setup_precision(config)
    strategy = tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    # Fail before reading any data.
    RunDir(config.run_dir).check_writable(overwrite=overwrite, replicas=replicas)
    start_model = load_trained(config.init, "init model") if config.init else None
    if start_model is not None:
        config = init_config(config, start_model)
    run = RunDir(worker_path(config.run_dir))
    global_config = scale_config(config, replicas)
    data = load_data(
        global_config, cache_dir=None if config.cache != "disk" else run.path / "cache"
    )
    student = build_model(config, data) if start_model is None else check_init(start_model, data)
    steps = math.ceil(data.counts["train"] / global_config.batch_size)
    student, compressing = compression.prepare(student, config, steps)
    model = make_distiller(config, student, data) if config.teacher else student
    resolved = resolve_config(config, data)
    resumed = run.prepare(resolved.to_dict(), overwrite=overwrite)
    run.record_replicas(replicas)
    barrier(strategy)  # other workers read the chief's run only once it is prepared
    if resumed:
        log.info("resuming the unfinished run in %s", run.path)
    run.write_labels(data.class_names)
    if config.cache == "disk":  # --overwrite may have removed the folder the cache points to
        (run.path / "cache").mkdir(exist_ok=True)
    start = time.perf_counter()
    plan = compressing.plan if compressing else None
    fit(
        model,
        data,
        scale_config(resolved, replicas),
        run,
        student,
        best_from_step=plan.end_step if plan else 0,
    )
    seconds = time.perf_counter() - start
    final = compression.finish(student, compressing)
    save_model(final, run.model_path())
    metrics = summarize(resolved, data, model, final, run, seconds, policy)
    if config.init:
        metrics["init"] = config.init
    metrics.update(compression.report(compressing, resolved, run.model_path()))
    metrics["distribution"] = describe(strategy, resolved)
    plot_history(read_history(run.history), run.curves, f"{config.model} on {config.dataset}")
    _clean_checkpoints(run)
    run.write_metrics(metrics)
    return TrainResult(run.path, metrics, final, resumed)


def train_stages(config: TrainConfig, *, overwrite: bool = False) -> TrainResult:
    """Trains the config's stages in order; stage N's model is ``<name>.keras``.

    Each stage runs in ``stages/<name>/`` (a run directory of its own, so it
    resumes on its own); a finished stage is not trained again.
    """
    RunDir(config.run_dir).check_writable(overwrite=overwrite)  # on every worker alike
    run = RunDir(worker_path(config.run_dir))
    resumed = run.prepare(config.to_dict(), overwrite=overwrite)
    barrier()  # other workers read the chief's run only once it is prepared
    results: dict[str, TrainResult] = {}
    for name, stage in stage_configs(config):
        if stage.teacher in results:
            stage.teacher = str(run.model_path(stage.teacher))
        if stage.init in results:
            stage.init = str(run.model_path(stage.init))
        stage.out = str(config.run_dir / "stages" / name)
        stage_run = RunDir(stage.out)
        if stage_run.finished:
            model = load_model(stage_run.model_path())
            results[name] = TrainResult(stage_run.path, stage_run.read_metrics(), model, True)
        else:
            log.info("stage %s: %s", name, f"from {stage.init}" if stage.init else stage.model)
            results[name] = train_single(stage)
        with atomic_path(run.model_path(name)) as tmp:
            shutil.copyfile(RunDir(results[name].run_dir).model_path(), tmp)
    last = results[name]
    shutil.copyfile(RunDir(last.run_dir).labels, run.labels)
    metrics = {
        **last.metrics,
        "stages": {n: r.metrics for n, r in results.items()},
        "final_model": run.model_path(name).name,
    }
    run.write_metrics(metrics)
    return TrainResult(run.path, metrics, last.model, resumed)


def train(config: TrainConfig, *, overwrite: bool = False) -> TrainResult:
    """Trains as ``config`` says and writes its run directory.

    One model, a model distilled from ``config.teacher``, or a sequence of
    ``config.stages`` (e.g. a teacher, then a student distilled from it, then
    pruned, then quantization-aware). A model started from ``config.init``
    is fine-tuned; ``config.prune`` prunes it and ``config.qat`` makes it
    quantization-aware (both: two stages, ``compression_stages``).
    Rerunning the same config after a crash resumes from the last finished
    epoch (BackupAndRestore).

    Everything runs under the strategy of ``create_strategy(config.devices)``:
    several GPUs, ``TF_CONFIG`` workers, or one device. Under multi-worker
    training every worker calls ``train`` with the same config; only the
    chief writes ``config.run_dir`` (see docs/distributed.md).

    Args:
        config: A validated ``TrainConfig``.
        overwrite: Replace a finished run in the same folder. Defaults to False.

    Returns:
        The ``TrainResult``; for staged runs, the last stage's model.
    """
    config = compression_stages(config.validate())
    strategy = create_strategy(config.devices)  # before TensorFlow runs anything
    scratch = None if is_chief(strategy) else worker_path(config.run_dir, strategy)
    if scratch is not None:
        remove_worker_path(scratch)
    previous = keras.mixed_precision.global_policy()
    try:
        with strategy.scope():
            if config.stages:
                result = train_stages(config, overwrite=overwrite)
            else:
                result = train_single(config, overwrite=overwrite)
        return dataclasses.replace(result, run_dir=config.run_dir)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as exc:
        if not is_multi_worker(strategy):
            raise
        first = re.sub(r"\{\{.*?\}\}\s*", "", " ".join(str(exc).strip().splitlines()[:2]))[:200]
        raise KVError(
            f"lost contact with another worker ({first}); restart every worker with the "
            f"same command to resume from the last finished epoch"
        ) from None
    finally:
        keras.mixed_precision.set_global_policy(previous)
        if scratch is not None:
            remove_worker_path(scratch)
