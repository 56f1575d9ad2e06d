"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import math
import os
import statistics
import tarfile
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-subset.tar.gz"


def cifar_folder() -> Path:
    """Extracts the shared CIFAR-10 subset once (under $KV_BENCH_DATA or the temp dir)."""
    root = Path(os.environ.get("KV_BENCH_DATA", Path(tempfile.gettempdir()) / "kv-bench"))
    folder = root / "cifar10-subset"
    if not (folder / "train").is_dir():
        if not SHARED.is_file():
            raise SystemExit(f"missing {SHARED}")
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(SHARED) as tar:
            tar.extractall(root, filter="data")
    return folder


def out_dir(name: str) -> Path:
    """A fresh run directory for one benchmark."""
    return Path(tempfile.mkdtemp(prefix=f"kv-bench-{name}-"))


def mean_se(values: list[float]) -> str:
    """``mean +- standard error`` of ``values`` (just the mean for one value), 2 decimals."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:+.2f}"
    return f"{mean:+.2f} +- {statistics.stdev(values) / math.sqrt(len(values)):.2f}"
