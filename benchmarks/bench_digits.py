"""digits + simple_cnn with the shipped recipe: validation accuracy and wall time.

Target: validation accuracy >= 0.97 in under 2 minutes on 2 CPU cores, counted
from before the data is loaded to the written run directory.

    python benchmarks/bench_digits.py
"""

from __future__ import annotations

import time

from common import out_dir

from kerasvision.config import build_config
from kerasvision.training import train


def main() -> None:
    start = time.perf_counter()
    config = build_config("digits-simple", {"out": str(out_dir("digits") / "run")})
    result = train(config)
    seconds = time.perf_counter() - start
    acc = result.metrics.val.accuracy
    print(
        f"digits simple_cnn: epochs={result.metrics.epochs} "
        f"val_accuracy={acc:.4f} wall={seconds:.1f}s "
        f"(target >= 0.97 in < 120 s: {'PASS' if acc >= 0.97 and seconds < 120 else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
