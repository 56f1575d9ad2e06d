"""Strategy selection, the batch and learning-rate rule, and training under strategies.

Splitting the CPU into logical devices and joining a TF_CONFIG cluster both
configure TensorFlow at start-up, so those tests run in fresh processes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kerasvision.backend import tf
from kerasvision.config import build_config
from kerasvision.errors import KVError
from kerasvision.launch import free_ports, tf_configs
from kerasvision.training import distribute
from kerasvision.training.distribute import (
    create_strategy,
    from_chief,
    is_chief,
    scale_config,
    scale_lr,
    worker_path,
)

TIMEOUT_S = 180


def run_python(script: str, *args: str, env: dict | None = None) -> dict:
    """Runs ``script`` in a fresh interpreter; returns the JSON of its last stdout line."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_one_device_uses_the_default_strategy_and_the_chief_writes_in_place(tmp_path):
    strategy = create_strategy(None)
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert is_chief(strategy)
    assert worker_path(tmp_path / "run", strategy) == tmp_path / "run"
    assert from_chief(7, strategy) == 7
    assert create_strategy(None) is strategy  # created once per process


def test_learning_rate_scales_linearly_for_sgd_and_by_square_root_for_adam():
    assert scale_lr(0.1, 1, "sgd") == 0.1
    assert scale_lr(0.1, 4, "sgd") == pytest.approx(0.4)
    assert scale_lr(1e-3, 4, "adam") == pytest.approx(2e-3)
    assert scale_lr(1e-3, 2, "adamw") == pytest.approx(1e-3 * math.sqrt(2))
    with pytest.raises(ValueError, match="replicas"):
        scale_lr(0.1, 0, "sgd")


def test_batch_size_is_per_replica_and_the_default_lr_follows_the_global_batch():
    config = build_config(overrides={"batch_size": 32})
    scaled = scale_config(config, 4)
    assert (scaled.batch_size, config.batch_size) == (128, 32)
    # The default SGD rate of a 128-image batch, whether one device or four take it.
    assert scaled.lr == pytest.approx(
        scale_config(build_config(overrides={"batch_size": 128}), 1).lr
    )
    explicit = scale_config(build_config(overrides={"lr": 0.01, "optimizer": "adamw"}), 4)
    assert explicit.lr == pytest.approx(0.02)


def test_a_device_that_does_not_exist_is_a_clear_error():
    with pytest.raises(KVError, match="gpu:63 does not exist; TensorFlow sees"):
        create_strategy("gpu:63")


def test_the_cpu_cannot_be_split_once_tensorflow_has_started():
    tf.constant(1.0) + 1.0  # start the runtime
    with pytest.raises(KVError, match="cannot split the CPU into 3 devices once TensorFlow"):
        create_strategy("cpu:0,cpu:1,cpu:2")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG must hold "cluster" and "task"'),
    ],
)
def test_a_malformed_tf_config_is_a_clear_error(monkeypatch, value, message):
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(KVError, match=message):
        create_strategy(None)


def test_workers_of_a_cluster_cannot_be_given_cpu_devices(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_configs(["127.0.0.1:1", "127.0.0.1:2"])[0])
    with pytest.raises(KVError, match="devices cannot name CPUs under TF_CONFIG"):
        create_strategy("cpu:0")


def test_worker_scratch_folders_are_removed_with_their_empty_parents(tmp_path, monkeypatch):
    monkeypatch.setattr(distribute.tempfile, "gettempdir", lambda: str(tmp_path))
    scratch = tmp_path / "kerasvision-workers" / "worker-1" / "runs" / "a"
    (scratch / "checkpoints").mkdir(parents=True)
    (scratch / "history.csv").write_text("epoch\n1\n")
    keep = tmp_path / "kerasvision-workers" / "worker-1" / "runs" / "b"
    keep.mkdir()
    distribute.remove_worker_path(scratch)
    assert not scratch.exists() and keep.is_dir()
    distribute.remove_worker_path(keep)
    assert not (tmp_path / "kerasvision-workers").exists()


_MIRRORED = """
    import dataclasses, json, sys
    from kerasvision.config import build_config
    from kerasvision.training import read_history, train

    base = {
        "model": "tiny_cnn", "epochs": 3, "schedule": "constant", "label_smoothing": 0.0,
        "mixed_precision": "off", "augment": {"translate": 0.0},
    }
    runs = {
        # 2 replicas x 32 images at lr 0.5 each = one device with 64 images at lr 1.0
        "two": {"devices": "cpu:0,cpu:1", "batch_size": 32, "lr": 0.5},
        "one": {"batch_size": 64, "lr": 1.0},
    }
    out = {}
    for name, keys in runs.items():  # the two-device run first: it splits the CPU
        result = train(build_config(overrides={**base, **keys, "out": f"{sys.argv[1]}/{name}"}))
        rows = read_history(result.run_dir / "history.csv")
        out[name] = {
            "loss": [r["loss"] for r in rows],
            "val_loss": result.metrics.val.loss,
            "distribution": dataclasses.asdict(result.metrics.distribution),
        }
    print(json.dumps(out))
"""


@pytest.mark.slow
def test_mirrored_strategy_over_two_cpu_devices_reaches_the_loss_of_one_device(tmp_path):
    out = run_python(_MIRRORED, str(tmp_path))
    two, one = out["two"], out["one"]
    assert two["distribution"] == {
        "strategy": "MirroredStrategy",
        "replicas": 2,
        "workers": 1,
        "global_batch_size": 64,
        "lr": 1.0,
    }
    assert one["distribution"]["replicas"] == 1
    assert one["loss"][-1] < one["loss"][0] - 0.1  # it learned something
    # Unscaled learning rates or per-replica batches as the global one land ~0.1 away.
    np.testing.assert_allclose(two["loss"], one["loss"], atol=0.03)
    assert two["val_loss"] == pytest.approx(one["val_loss"], abs=0.03)


_WORKER = """
    import dataclasses, json, sys
    import numpy as np
    from kerasvision.config import build_config
    from kerasvision.training import train
    from kerasvision.training.distribute import create_strategy, from_chief, is_chief

    result = train(build_config(overrides=json.loads(sys.argv[1])))
    np.savez(sys.argv[2], *result.model.get_weights())
    strategy = create_strategy(None)  # the one train() created
    agreed = from_chief(5 if is_chief(strategy) else 99, strategy)
    print(json.dumps({**dataclasses.asdict(result.metrics.distribution), "from_chief": agreed}))
"""


@pytest.mark.slow
def test_two_workers_with_tf_config_train_together_and_end_with_identical_weights(tmp_path):
    run = tmp_path / "run"
    config = {"model": "tiny_cnn", "epochs": 2, "batch_size": 32, "mixed_precision": "off"}
    config["out"] = str(run)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    for i in range(2):
        (tmp_path / f"tmp{i}").mkdir()  # each worker's temp dir, for its scratch copy
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(_WORKER),
                json.dumps(config),
                str(tmp_path / f"w{i}.npz"),
            ],
            env={**os.environ, "TF_CONFIG": tf_config, "TMPDIR": str(tmp_path / f"tmp{i}")},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, tf_config in enumerate(tf_configs(addresses))
    ]
    try:
        outputs = [proc.communicate(timeout=TIMEOUT_S) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    for stdout, _ in outputs:
        assert json.loads(stdout.strip().splitlines()[-1]) == {
            "strategy": "MultiWorkerMirroredStrategy",
            "replicas": 2,
            "workers": 2,
            "global_batch_size": 64,
            "lr": 0.05,
            "from_chief": 5,  # both workers take the chief's value
        }
    chief, other = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    assert len(chief.files) == len(other.files) > 0
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key])
    # The chief wrote the run; the other worker left nothing behind.
    assert {"model.keras", "metrics.json", "history.csv"} <= {p.name for p in run.iterdir()}
    assert not [p for p in run.rglob("*") if "workertemp" in p.name]
    assert not list((tmp_path / "tmp1").iterdir())


def test_devices_option_reaches_the_config_and_bad_values_are_one_line(capsys):
    from kerasvision.cli.errors import run_cli
    from kerasvision.cli.main import cli

    assert run_cli(cli, ["train", "--devices", "tpu:0"]) == 1
    err = capsys.readouterr().err
    assert err == "kv: error: devices: 'tpu:0' is not a device; use gpu:N, cpu:N or N (a GPU)\n"
    assert build_config(overrides={"devices": "gpu:0,gpu:1"}).devices == "gpu:0,gpu:1"


def test_stages_cannot_choose_their_own_devices():
    with pytest.raises(KVError, match="cannot set 'stages', 'out' or 'devices'"):
        build_config(overrides={"stages": {"a": {"devices": "gpu:0"}}})
