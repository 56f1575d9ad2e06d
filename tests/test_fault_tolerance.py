"""Killed runs resume: ``kill -9`` mid-epoch, then the same command again.

BackupAndRestore saves the training state after every epoch; rerunning the
command restores it and goes on with the next epoch, so ``history.csv`` holds
every epoch once and the epochs finished before the kill are not trained again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerasvision.training import read_history

TIMEOUT_S = 180
KV = [sys.executable, "-m", "kerasvision.cli.main"]
TRAIN = ["-m", "tiny_cnn", "-b", "32", "--no-augment", "--mixed-precision", "off"]


def wait_until(condition, proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> None:
    """Polls ``condition`` until it holds; fails if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before it could be killed")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the run")
        time.sleep(0.05)


def backed_up(run: Path, epochs: int) -> bool:
    """Whether ``epochs`` epochs are in history.csv and BackupAndRestore has saved since."""
    state = run / "checkpoints" / "backup-train" / "chief" / "checkpoint"
    return len(read_history(run / "history.csv")) >= epochs and state.is_file()


def rerun(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_without_repeating_finished_epochs(tmp_path):
    run = tmp_path / "run"
    command = [*KV, "train", *TRAIN, "-e", "10", "-o", str(run)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: backed_up(run, 1), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = read_history(run / "history.csv")
    assert not (run / "metrics.json").exists() and len(before) < 10

    again = rerun(command)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"kv: resuming the unfinished run in {run}" in again.stderr
    after = read_history(run / "history.csv")
    assert [r["epoch"] for r in after] == list(range(1, 11))
    assert after[0] == before[0]  # the first epoch was not trained again
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 10
    assert not list(run.rglob("*.tmp-*"))


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.is_file():
        pytest.skip("needs /proc/PID/task/PID/children (Linux)")
    return [int(p) for p in path.read_text().split()]


def _worker_index(pid: int) -> int:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    tf_config = next(v for v in environ if v.startswith(b"TF_CONFIG="))
    return json.loads(tf_config.split(b"=", 1)[1])["task"]["index"]


@pytest.mark.slow
def test_a_multi_worker_job_whose_worker_dies_resumes_when_relaunched(tmp_path):
    run = tmp_path / "run"
    command = [*KV, "launch", "--workers", "2", "--", *TRAIN, "-e", "6", "-o", str(run)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: backed_up(run, 1), proc)
    worker = next(pid for pid in _children(proc.pid) if _worker_index(pid) == 1)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 1
    assert "kv: error: worker 1 was killed by SIGKILL; the other workers were stopped" in err
    before = read_history(run / "history.csv")
    assert not (run / "metrics.json").exists()

    again = rerun(command)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert f"[worker 0] kv: resuming the unfinished run in {run}" in again.stdout
    after = read_history(run / "history.csv")
    assert [r["epoch"] for r in after] == list(range(1, 7))
    assert after[0] == before[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["distribution"]["workers"] == 2 and metrics["epochs"] == 6
