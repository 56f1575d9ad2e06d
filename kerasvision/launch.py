"""Local multi-worker jobs: N ``kv train`` processes joined by ``TF_CONFIG`` on loopback.

On a real cluster each machine runs ``kv train`` with its own ``TF_CONFIG``;
``launch_workers`` does the same on one machine, to try multi-worker training
(and its fault tolerance) without one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from kerasvision.errors import KVError, bad_value

_GRACE_S = 10.0


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that are free on ``host`` right now."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def tf_configs(addresses: Sequence[str]) -> list[str]:
    """The ``TF_CONFIG`` of each worker of a cluster of ``addresses`` (``host:port``).

    Worker 0 is the chief: it writes the run directory.
    """
    cluster = {"worker": list(addresses)}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        for index in range(len(addresses))
    ]


def launch_workers(
    train_args: Sequence[str],
    workers: int,
    *,
    port: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Runs ``kv train TRAIN_ARGS`` in ``workers`` processes as one multi-worker job.

    Each worker gets a ``TF_CONFIG`` naming all of them on 127.0.0.1, and its
    output lines prefixed with ``[worker N]``. When a worker fails, the others
    are stopped (they could only wait for it); rerunning the same command then
    resumes the run from its last finished epoch.

    Args:
        train_args: Arguments of ``kv train`` (the same for every worker).
        workers: Number of worker processes, at least 1.
        port: First port; workers listen on ``port``, ``port + 1``, ...
            Defaults to None (free ports picked by the system).
        echo: Receives each output line (with its newline). Defaults to None
            (written to stdout).

    Raises:
        KVError: When ``workers`` is below 1 or a worker fails.
    """
    if workers < 1:
        raise bad_value("workers", f"must be at least 1, got {workers}")
    if port is not None and port + workers - 1 > 65535:
        raise bad_value("port", f"{port} leaves no room for {workers} workers (ports up to 65535)")
    echo = echo or _write_stdout
    ports = list(range(port, port + workers)) if port else free_ports(workers)
    configs = tf_configs([f"127.0.0.1:{p}" for p in ports])
    command = [sys.executable, "-m", "kerasvision.cli.main", "train", *train_args]
    lock = threading.Lock()
    procs, pumps = [], []
    try:
        for index, tf_config in enumerate(configs):
            env = dict(os.environ, TF_CONFIG=tf_config, PYTHONUNBUFFERED="1")
            proc = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            procs.append(proc)
            pump = threading.Thread(target=_pump, args=(proc, f"[worker {index}] ", echo, lock))
            pump.start()
            pumps.append(pump)
        failed = _wait(procs)
    finally:
        _stop(procs)
        for pump in pumps:
            pump.join()
    if failed is not None:
        raise KVError(f"worker {failed} {_describe_exit(procs[failed].returncode)}")


def _write_stdout(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.flush()


def _pump(proc: subprocess.Popen, prefix: str, echo: Callable[[str], None], lock) -> None:
    for line in proc.stdout:
        with lock:
            echo(prefix + line)
    proc.stdout.close()


def _wait(procs: list[subprocess.Popen]) -> int | None:
    """Waits until all workers exit 0 (None) or one fails (its index)."""
    while True:
        codes = [proc.poll() for proc in procs]
        for index, code in enumerate(codes):
            if code not in (None, 0):
                return index
        if all(code == 0 for code in codes):
            return None
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminates the workers still running; kills those that ignore it."""
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_S
    for proc in running:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}; the other workers were stopped"
    return f"exited with code {code}; the other workers were stopped"
