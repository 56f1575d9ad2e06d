"""Distribution: which ``tf.distribute`` strategy a run uses, and what follows from it.

``create_strategy`` is the one place that picks the strategy:

- ``TF_CONFIG`` set (one process per machine): ``MultiWorkerMirroredStrategy``;
- several devices (``devices``, or more than one visible GPU): ``MirroredStrategy``;
- otherwise TensorFlow's default strategy on the one device.

``batch_size`` and ``lr`` in a config are per replica; ``scale_config`` turns
them into the global batch and the learning rate for all replicas
(``scale_lr``). Under multi-worker training only the chief writes the run
directory; the other workers write their copy under ``worker_path``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from kerasvision.backend import tf
from kerasvision.config import TrainConfig, parse_devices
from kerasvision.errors import KVError
from kerasvision.training.optim import peak_lr

_STRATEGIES: dict[tuple[str, str], tf.distribute.Strategy] = {}


def cluster_spec() -> dict | None:
    """The ``TF_CONFIG`` environment variable, parsed; None when it is not set.

    Raises:
        KVError: When ``TF_CONFIG`` is not JSON or has no ``cluster`` and ``task``.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KVError(f"TF_CONFIG is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(spec, dict) or not spec.get("cluster") or "task" not in spec:
        raise KVError(
            'TF_CONFIG must hold "cluster" and "task", e.g. {"cluster": {"worker": '
            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
        )
    return spec


def create_strategy(devices: str | list | None = None) -> tf.distribute.Strategy:
    """Creates the strategy for this process, once (later calls return the same one).

    Must run before TensorFlow executes anything: splitting the CPU into
    logical devices and joining a multi-worker cluster both configure the
    runtime at start-up.

    Args:
        devices: Which devices to use, as in ``TrainConfig.devices``:
            ``gpu:0,gpu:1``, ``0,1``, ``cpu:0,cpu:1`` or None (every visible
            GPU, else the CPU). Under ``TF_CONFIG``, the GPUs of this worker.
            Defaults to None.

    Returns:
        ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` is set;
        ``MirroredStrategy`` over the devices asked for, or over every GPU
        when several are visible; else the default strategy.

    Raises:
        KVError: On a bad device list, a device that does not exist, or a
            malformed ``TF_CONFIG``.
    """
    names = parse_devices(devices)
    key = (",".join(names or []), os.environ.get("TF_CONFIG", ""))
    if key not in _STRATEGIES:
        if cluster_spec() is not None:
            _STRATEGIES[key] = _multi_worker(names)
        else:
            _STRATEGIES[key] = _local(names)
    return _STRATEGIES[key]


def _multi_worker(names: list[str] | None) -> tf.distribute.Strategy:
    if names and names[0].startswith("/cpu"):
        raise KVError(
            "devices cannot name CPUs under TF_CONFIG: each worker trains on its GPUs "
            "(gpu:N picks them) or, with no devices set, on its CPU"
        )
    if names:
        gpus = _check_gpus(names)
        tf.config.set_visible_devices([gpus[int(n.split(":")[1])] for n in names], "GPU")
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise KVError(f"cannot join the cluster in TF_CONFIG: {first}") from None


def _local(names: list[str] | None) -> tf.distribute.Strategy:
    if names is None:
        gpus = tf.config.list_physical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if names[0].startswith("/cpu"):
        _split_cpu(max(int(n.split(":")[1]) for n in names) + 1)
    else:
        _check_gpus(names)
    # MirroredStrategy also for a single named device: it pins the device and,
    # unlike OneDeviceStrategy, BackupAndRestore supports it.
    return tf.distribute.MirroredStrategy(names)


def _check_gpus(names: list[str]) -> list:
    gpus = tf.config.list_physical_devices("GPU")
    for name in names:
        if int(name.split(":")[1]) >= len(gpus):
            raise KVError(
                f"devices: {name[1:]} does not exist; TensorFlow sees {len(gpus)} GPU(s)"
                + (f" (gpu:0 to gpu:{len(gpus) - 1})" if gpus else "")
            )
    return gpus


def _split_cpu(count: int) -> None:
    """Splits the CPU into ``count`` logical devices (before TensorFlow starts)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) >= count:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) >= count:
            return
        raise KVError(
            f"cannot split the CPU into {count} devices once TensorFlow has started; "
            f"choose the devices before running anything else in this process"
        ) from None


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans several processes (``MultiWorkerMirroredStrategy``)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the run directory (always, outside multi-worker runs)."""
    strategy = strategy or tf.distribute.get_strategy()
    return not is_multi_worker(strategy) or strategy.extended.should_checkpoint


def worker_path(path: str | os.PathLike, strategy: tf.distribute.Strategy | None = None) -> Path:
    """Where this process writes what belongs at ``path``.

    ``path`` itself on the chief; on another worker, the same path under a
    folder of that worker in the temp directory, so workers sharing a
    filesystem never write the same file (the TF multi-worker pattern).
    """
    strategy = strategy or tf.distribute.get_strategy()
    path = Path(path)
    if is_chief(strategy):
        return path
    resolver = strategy.cluster_resolver
    root = Path(tempfile.gettempdir()) / "kerasvision-workers"
    absolute = path.resolve()
    return root / f"{resolver.task_type}-{resolver.task_id}" / absolute.relative_to(absolute.anchor)


def remove_worker_path(path: Path) -> None:
    """Removes a non-chief worker's scratch folder and its empty parents."""
    shutil.rmtree(path, ignore_errors=True)
    root = Path(tempfile.gettempdir()) / "kerasvision-workers"
    for parent in path.parents:
        if parent == root.parent:
            break
        try:
            parent.rmdir()
        except OSError:
            break


def barrier(strategy: tf.distribute.Strategy | None = None) -> None:
    """Waits until every worker gets here (nothing to wait for in one process)."""
    strategy = strategy or tf.distribute.get_strategy()
    if not is_multi_worker(strategy):
        return
    ones = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None).numpy()


def from_chief(value: int, strategy: tf.distribute.Strategy | None = None) -> int:
    """The chief's ``value`` on every worker (``value`` itself in one process).

    For decisions taken from local measurements, such as when a time budget
    stops training: workers that decided differently would wait for each
    other forever.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not is_multi_worker(strategy):
        return value
    # The chief's replicas each contribute a share of the value, the others 0.
    share = float(value) / len(strategy.extended.worker_devices) if is_chief(strategy) else 0.0
    values = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(share))
    return round(float(strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)))


def scale_lr(lr: float, replicas: int, optimizer: str) -> float:
    """The learning rate for ``replicas`` times the batch that ``lr`` was set for.

    Linear for SGD (Goyal et al. 2017, "Accurate, Large Minibatch SGD"), square
    root for Adam and AdamW (Malladi et al. 2022, "On the SDEs and Scaling Rules
    for Adaptive Gradient Algorithms").

    Args:
        lr: The learning rate for one replica's batch.
        replicas: Replicas training in sync.
        optimizer: ``sgd``, ``adam`` or ``adamw``.

    Returns:
        The scaled learning rate (``lr`` itself for one replica).
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    return lr * (replicas if optimizer == "sgd" else math.sqrt(replicas))


def scale_config(config: TrainConfig, replicas: int) -> TrainConfig:
    """The config with the global batch and the scaled learning rate of ``replicas``.

    ``batch_size`` becomes ``batch_size * replicas`` and ``lr`` the configured
    (or default) peak learning rate scaled by ``scale_lr``. With one replica
    only the default learning rate is filled in.
    """
    return dataclasses.replace(
        config,
        batch_size=config.batch_size * replicas,
        lr=scale_lr(peak_lr(config), replicas, config.optimizer),
    )


def describe(strategy: tf.distribute.Strategy, config: TrainConfig) -> dict:
    """What ``metrics.json`` records about the distribution of a run."""
    replicas = strategy.num_replicas_in_sync
    scaled = scale_config(config, replicas)
    workers = 1
    if is_multi_worker(strategy):
        jobs = strategy.cluster_resolver.cluster_spec().as_dict()
        workers = len(jobs.get("chief", [])) + len(jobs.get("worker", []))
    name = type(strategy).__name__
    if is_multi_worker(strategy):
        name = "MultiWorkerMirroredStrategy"
    return {
        "strategy": "default" if name.startswith("_Default") else name,
        "replicas": replicas,
        "workers": workers,
        "global_batch_size": scaled.batch_size,
        "lr": scaled.lr,
    }
