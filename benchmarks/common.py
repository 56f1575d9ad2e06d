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


def mean_se(values: list[float], digits: int = 2, *, sign: bool = True) -> str:
    """``mean +- standard error`` of ``values`` (just the mean for one value).

    Args:
        values: The per-seed figures.
        digits: Decimals. Defaults to 2.
        sign: Print the mean's sign (for differences). Defaults to True.
    """
    mean = statistics.fmean(values)
    text = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    if len(values) < 2:
        return text
    return f"{text} +- {statistics.stdev(values) / math.sqrt(len(values)):.{digits}f}"
