"""``kv launch``: local multi-worker jobs on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from kerasvision.errors import KVError
from kerasvision.launch import free_ports, launch_workers, tf_configs


def test_each_worker_gets_the_whole_cluster_and_its_own_index():
    configs = [json.loads(c) for c in tf_configs(["127.0.0.1:1001", "127.0.0.1:1002"])]
    assert [c["cluster"] for c in configs] == [{"worker": ["127.0.0.1:1001", "127.0.0.1:1002"]}] * 2
    assert [c["task"] for c in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
    ]


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_failing_worker_fails_the_job_and_its_output_is_prefixed(tmp_path):
    lines: list[str] = []
    with pytest.raises(KVError, match=r"worker \d exited with code 2; the other workers"):
        launch_workers(["--bogus", "-o", str(tmp_path / "run")], 2, echo=lines.append)
    errors = [line for line in lines if "kv: error: No such option '--bogus'" in line]
    assert errors and all(line.startswith(("[worker 0] ", "[worker 1] ")) for line in errors)
    assert not (tmp_path / "run").exists()


def test_launch_command_rejects_a_bad_worker_count():
    proc = subprocess.run(
        [sys.executable, "-m", "kerasvision.cli.main", "launch", "--workers", "0", "--", "-e", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "kv: error: Invalid value for '-n' / '--workers': 0 is not in the range 1<=x<=64."
    ]
