"""Slow end-to-end runs of the installed ``kv`` command on real data (pytest -m slow)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def run_kv(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    kv = shutil.which("kv") or str(Path(sys.executable).with_name("kv"))
    return subprocess.run([kv, *args], capture_output=True, text=True, timeout=timeout)


def test_digits_recipe_reaches_97_percent(tmp_path):
    proc = run_kv("train", "--config", "digits-simple", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "val accuracy" in proc.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["val"]["accuracy"] >= 0.97
    assert metrics["epochs"] == 15


def test_cifar_jpeg_folder_trains_and_beats_chance(cifar_folder, tmp_path):
    # Three epochs of 250 small steps: enough for batch-norm statistics to settle.
    args = ["-m", "simple_cnn", "-e", "3", "--optimizer", "adam", "-b", "32"]
    proc = run_kv("train", "-d", str(cifar_folder), *args, "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["counts"] == {"train": 8000, "val": 2000}
    assert metrics["input_shape"] == [32, 32, 3]
    assert metrics["skipped_files"] == 0
    assert metrics["val"]["accuracy"] > 0.3  # chance is 0.1
    labels = (tmp_path / "run" / "labels.txt").read_text().split()
    assert labels[:3] == ["airplane", "automobile", "bird"]


def test_a_killed_run_resumes_when_the_same_command_is_rerun(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    args = ["train", "-m", "simple_cnn", "-e", "40", "-b", "32", "--out", str(out)]
    kv = shutil.which("kv") or str(Path(sys.executable).with_name("kv"))
    proc = subprocess.Popen([kv, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = out / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) >= 3:  # 2 epochs done
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(history.read_text().splitlines()) - 1
    assert 2 <= done_before < 40
    rerun = run_kv(*args)
    assert rerun.returncode == 0, rerun.stderr
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs == list(range(1, 41))
