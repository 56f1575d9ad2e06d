"""``train(config)``: the training entry point that ``kv train`` calls.

It wires the jobs together: data (``load_data``), model (``build_model``, or
``models.loading`` for a teacher or an ``init`` model), the precision policy
(``precision``), the plan made once (``plan.TrainPlan``: global batch, LR,
steps, phases), fitting (``fitting.fit``) and the summary
(``summary.run_metrics``), and writes the run directory.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerasvision.backend import keras, tf
from kerasvision.compress import stage as compression
from kerasvision.config import TrainConfig, compression_stages, stage_configs
from kerasvision.data import DataSplits, build_pipelines, open_source, resolve_size
from kerasvision.distill import Distiller
from kerasvision.errors import KVError
from kerasvision.fileio import atomic_path
from kerasvision.models import create_model, get_model_spec
from kerasvision.models.loading import check_init, init_config, load_teacher, load_trained
from kerasvision.models.saving import load_model, policy_copy, save_model
from kerasvision.run import Run, RunMetrics
from kerasvision.training.budget import StageBudget
from kerasvision.training.callbacks import read_history
from kerasvision.training.distribute import (
    barrier,
    create_strategy,
    is_chief,
    is_multi_worker,
    remove_worker_path,
    worker_path,
)
from kerasvision.training.fitting import fit
from kerasvision.training.plan import TrainPlan
from kerasvision.training.plots import plot_history
from kerasvision.training.precision import setup_precision, teacher_policy
from kerasvision.training.summary import run_metrics, staged_metrics
from kerasvision.training.whitening import whiten_first_conv

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        run_dir: The run directory.
        metrics: The content of ``metrics.json``, typed.
        model: The trained model.
        resumed: Whether the run continued an interrupted one.
    """

    run_dir: Path
    metrics: RunMetrics
    model: Any
    resumed: bool = False


def load_data(
    config: TrainConfig, cache_dir: Path | None = None, batch_size: int | None = None
) -> DataSplits:
    """Opens the config's dataset at the model's input size and channels.

    Args:
        config: The run's config.
        cache_dir: Where a disk cache goes. Defaults to None.
        batch_size: Images per batch. Defaults to None (``config.batch_size``;
            the trainer passes the global batch of all replicas).
    """
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
        batch_size=batch_size or config.batch_size,
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


def _clean_checkpoints(run: Run) -> None:
    """Removes phase weights and the empty backup folders of a finished run."""
    run.replicas.unlink(missing_ok=True)
    for leftover in run.checkpoints.glob("*.weights.h5"):
        leftover.unlink()
    for backup in run.checkpoints.glob("backup-*"):
        if backup.is_dir() and not any(backup.iterdir()):
            backup.rmdir()


def make_distiller(config: TrainConfig, student, data: DataSplits):
    """Wraps ``student`` in a ``Distiller`` with the config's teacher.

    The teacher infers under ``teacher_policy`` (bfloat16 on a CPU that has
    it), not in the float32 of its file: its forward pass is most of a
    distillation step's time.
    """
    teacher = load_teacher(config.teacher)
    if teacher.output_shape[-1] != data.num_classes:
        raise KVError(
            f"the teacher predicts {teacher.output_shape[-1]} classes, the data has "
            f"{data.num_classes}"
        )
    policy = teacher_policy(config)
    if policy != "float32":
        teacher = policy_copy(teacher, policy)
        log.info("the teacher infers under %s", policy)
    return Distiller(
        teacher=teacher,
        student=student,
        alpha=config.distill.alpha,
        temperature=config.distill.temperature,
        label_smoothing=config.label_smoothing,
        teacher_tta=config.distill.tta,
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
    Run(config.run_dir).check_writable(overwrite=overwrite, replicas=replicas)
    start_model = load_trained(config.init, "init model") if config.init else None
    if start_model is not None:
        config = init_config(config, start_model)
    run = Run(worker_path(config.run_dir))
    cache_dir = run.path / "cache" if config.cache == "disk" else None
    data = load_data(config, cache_dir=cache_dir, batch_size=config.batch_size * replicas)
    student = build_model(config, data) if start_model is None else check_init(start_model, data)
    if config.whiten and start_model is None:
        log.info(
            "whitened the first conv on %d training images", whiten_first_conv(student, data.train)
        )
    plan = TrainPlan.build(config, data, student, replicas)
    student, compressed = compression.prepare(student, plan.config, plan.steps_per_epoch)
    model = make_distiller(plan.config, student, data) if config.teacher else student
    resumed = run.prepare(plan.config.to_dict(), overwrite=overwrite)
    run.record_replicas(replicas)
    barrier(strategy)  # other workers read the chief's run only once it is prepared
    if resumed:
        log.info("resuming the unfinished run in %s", run.path)
    run.write_labels(data.class_names)
    if cache_dir is not None:  # --overwrite may have removed the folder the cache points to
        cache_dir.mkdir(exist_ok=True)
    start = time.perf_counter()
    pruning = compressed.plan if compressed else None
    fit(model, data, plan, run, student, best_from_step=pruning.end_step if pruning else 0)
    seconds = time.perf_counter() - start
    final = compression.finish(student, compressed)
    save_model(final, run.model_path())
    metrics = run_metrics(
        plan.config,
        data,
        model,
        final,
        run,
        seconds=seconds,
        policy=policy,
        compressed=compressed,
        strategy=strategy,
    )
    plot_history(read_history(run.history), run.curves, f"{config.model} on {config.dataset}")
    _clean_checkpoints(run)
    run.write_metrics(metrics)
    return TrainResult(run.path, metrics, final, resumed)


def _train_stage(
    name: str, stage: TrainConfig, budget: StageBudget | None, init: RunMetrics | None
) -> TrainResult:
    """Trains one stage, within its share of the run's budget when there is one."""
    given = None
    if budget is not None:
        stage, given = budget.apply(name, stage, init)
    log.info("stage %s: %s", name, f"from {stage.init}" if stage.init else stage.model)
    result = train_single(stage)
    if given is not None:  # what the stage was given, whichever way it used it
        result.metrics = dataclasses.replace(result.metrics, budget_minutes=round(given, 2))
        Run(result.run_dir).write_metrics(result.metrics)
    return result


def train_stages(config: TrainConfig, *, overwrite: bool = False) -> TrainResult:
    """Trains the config's stages in order; stage N's model is ``<name>.keras``.

    Each stage runs in ``stages/<name>/`` (a run directory of its own, so it
    resumes on its own); a finished stage is not trained again.
    """
    started = time.perf_counter()
    Run(config.run_dir).check_writable(overwrite=overwrite)  # on every worker alike
    run = Run(worker_path(config.run_dir))
    resumed = run.prepare(config.to_dict(), overwrite=overwrite)
    barrier()  # other workers read the chief's run only once it is prepared
    results: dict[str, TrainResult] = {}
    stages = stage_configs(config)
    budget = StageBudget(config.time, stages) if config.time else None
    for name, stage in stages:
        init = results[stage.init].metrics if stage.init in results else None
        if stage.teacher in results:
            stage.teacher = str(run.model_path(stage.teacher))
        if stage.init in results:
            stage.init = str(run.model_path(stage.init))
        stage.out = str(config.run_dir / "stages" / name)
        stage_run = Run(stage.out)
        if stage_run.finished:
            model = load_model(stage_run.model_path())
            results[name] = TrainResult(stage_run.path, stage_run.metrics(), model, True)
        else:
            results[name] = _train_stage(name, stage, budget, init)
        with atomic_path(run.model_path(name)) as tmp:
            shutil.copyfile(Run(results[name].run_dir).model_path(), tmp)
    last = results[name]
    run.copy_labels_from(Run(last.run_dir))
    metrics = staged_metrics(
        {n: r.metrics for n, r in results.items()},
        run.model_path(name),
        budget_minutes=config.time,
        wall_seconds=time.perf_counter() - started,
    )
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
            barrier(strategy)  # every worker returns once the chief's metrics.json is written
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
