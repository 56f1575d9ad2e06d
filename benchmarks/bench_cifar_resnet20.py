"""CIFAR-10 subset (8,000 train / 2,000 val JPEGs) + resnet20 in a 15-minute budget.

Runs the shipped ``cifar10-resnet20`` recipe on the image folder with
``--time 15``: the epoch count and the cosine schedule fit themselves to the
budget. Reference: a plain hand-written tf_keras ResNet-20 script reaches 0.79
on this split in 14 minutes on 2 cores; target >= 0.82.

    python benchmarks/bench_cifar_resnet20.py [--minutes 15]
"""

from __future__ import annotations

import argparse
import time

from common import cifar_folder, out_dir

from kerasvision.config import build_config
from kerasvision.training import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=15.0)
    args = parser.parse_args()
    folder = cifar_folder()
    start = time.perf_counter()
    config = build_config(
        "cifar10-resnet20",
        {"dataset": str(folder), "time": args.minutes, "out": str(out_dir("cifar") / "run")},
    )
    result = train(config)
    seconds = time.perf_counter() - start
    m = result.metrics
    acc = m["val"]["accuracy"]
    print(
        f"cifar10-subset resnet20: epochs={m['epochs']} train_seconds={m['train_seconds']} "
        f"wall={seconds:.0f}s images_per_s={m['images_per_s']} "
        f"val_accuracy={acc:.4f} best_val_accuracy={m['best_val_accuracy']:.4f} "
        f"(reference 0.79, target >= 0.82: {'PASS' if acc >= 0.82 else 'FAIL'})"
    )
    print(f"run directory: {result.run_dir}")


if __name__ == "__main__":
    main()
