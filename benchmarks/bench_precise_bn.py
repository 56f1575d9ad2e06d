"""Short runs in inference mode: the three digits cases of issue 15, with and without precise BN.

Each case is trained with ``precise_bn`` 0 (BatchNorm's moving averages as
training leaves them, momentum 0.99) and 50 (the default: statistics
recomputed over 50 training batches with the weights fixed before each
validation), over several seeds; the figure is the saved model's validation
accuracy, mean +- s.e.:

1. ``kv train -d digits -m simple_cnn -e 8``
2. ``simple_cnn --width 0.5`` distilled for 8 epochs from run 1 (same setting)
3. ``--prune 0.5 -e 6``

Target: each >= 0.97 with precise BN.

    python benchmarks/bench_precise_bn.py --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import time

from common import mean_se, out_dir

from kerasvision.config import build_config
from kerasvision.training import train


def case(name: str, precise_bn: int, seed: int, root, teacher: str | None = None) -> float:
    base = {"dataset": "digits", "model": "simple_cnn", "seed": seed, "precise_bn": precise_bn}
    keys = {
        "plain": {"epochs": 8},
        "distilled": {"epochs": 8, "width": 0.5, "teacher": teacher},
        "pruned": {"epochs": 6, "prune": 0.5},
    }[name]
    out = root / f"{name}-bn{precise_bn}-s{seed}"
    return train(build_config(None, {**base, **keys, "out": str(out)})).metrics.val.accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    root, start = out_dir("precise-bn"), time.perf_counter()
    results: dict[tuple[str, int], list[float]] = {}
    for precise_bn in (0, 50):
        for seed in args.seeds:
            results.setdefault(("plain", precise_bn), []).append(
                case("plain", precise_bn, seed, root)
            )
            teacher = str(root / f"plain-bn{precise_bn}-s{seed}")
            for name in ("distilled", "pruned"):
                results.setdefault((name, precise_bn), []).append(
                    case(name, precise_bn, seed, root, teacher)
                )
    print("| case | precise_bn 0 | precise_bn 50 | per seed (0 / 50) |")
    print("| --- | ---: | ---: | --- |")
    for name in ("plain", "distilled", "pruned"):
        off, on = results[name, 0], results[name, 50]
        seeds = ", ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(off, on, strict=True))
        print(
            f"| {name} | {mean_se(off, 3, sign=False)} | {mean_se(on, 3, sign=False)} | {seeds} |"
        )
    passed = all(min(results[name, 50]) >= 0.97 for name in ("plain", "distilled", "pruned"))
    print(f"every case >= 0.97 with precise BN on every seed: {'PASS' if passed else 'FAIL'}")
    print(f"total time {(time.perf_counter() - start) / 60:.1f} min over {len(args.seeds)} seed(s)")


if __name__ == "__main__":
    main()
