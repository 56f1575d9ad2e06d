"""A kv teacher recipe against a plain ResNet-20 script at the same time budget.

The CIFAR-10 subset (10,000 JPEGs) is split once, with split seed 42, into
8,000 train, 1,000 val and 1,000 test images, stratified. Both arms train on
the same 8,000 images for ``--minutes``: the plain arm is a hand-written
tf_keras ResNet-20 (``plain_resnet20.py``: flip + pad-crop, SGD + cosine over
the budget), the kv arm is ``kv train --config RECIPE --time MINUTES``.
Settings were chosen on val; test was never used to choose anything, so the
test figure is the one to quote.

Each (arm, seed) appends a line to ``--results`` (JSON lines), so the arms can
run in separate invocations; the summary covers every line in the file.

    python benchmarks/bench_fast.py --arms plain kv --seeds 1 2 3 --minutes 15
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import cifar_folder, mean_se, out_dir

SPLIT = {"val_split": 0.1, "test_split": 0.1, "split_seed": 42}


def _arrays(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from kerasvision.data.sources import open_source

    source = open_source(str(folder), seed=SPLIT["split_seed"], **_splits())
    out = {}
    for split, ds in source.splits(32, 3).items():
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
        out[split] = (np.stack(xs), np.asarray(ys))
    return out


def _splits() -> dict[str, float]:
    return {"val_split": SPLIT["val_split"], "test_split": SPLIT["test_split"]}


def run_plain(folder: Path, seed: int, minutes: float) -> dict:
    from plain_resnet20 import accuracy, train_plain

    data = _arrays(folder)
    start = time.perf_counter()
    model = train_plain(*data["train"], minutes=minutes, seed=seed)
    seconds = time.perf_counter() - start
    return {
        "val": accuracy(model, *data["val"]),
        "test": accuracy(model, *data["test"]),
        "train_minutes": seconds / 60,
        "wall_minutes": seconds / 60,
    }


def run_kv(folder: Path, seed: int, minutes: float, recipe: str, tta: str) -> dict:
    from kerasvision.config import build_config
    from kerasvision.evaluation import evaluate
    from kerasvision.training import train

    out = out_dir(f"fast-{seed}") / "run"
    overrides = {"dataset": str(folder), "time": minutes, "seed": seed, "out": str(out), **SPLIT}
    start = time.perf_counter()
    result = train(build_config(recipe, overrides))
    wall = time.perf_counter() - start
    m = result.metrics
    row = {
        "val": m.val.accuracy,
        "test": m.test.accuracy,
        "train_minutes": sum(s.train_seconds for s in (m.stages or {}).values()) / 60
        or m.train_seconds / 60,
        "wall_minutes": wall / 60,
        "params": m.params,
        "epochs": m.epochs,
        "images_per_s": m.images_per_s,
        "run": str(result.run_dir),
    }
    if tta != "none":
        report, _ = evaluate(str(result.run_dir), split="test", tta=tta, out="")
        row[f"test_tta_{tta}"] = report.accuracy
    return row


def summarize(rows: list[dict]) -> None:
    arms = sorted({r["arm"] for r in rows})
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        keys = [k for k in mine[0] if k not in ("arm", "seed", "run") and k in mine[-1]]
        digits = {k: 4 if k.startswith(("val", "test")) else 1 for k in keys}
        figures = ", ".join(
            f"{k} {mean_se([r[k] for r in mine], digits[k], sign=False)}" for k in keys
        )
        print(f"{arm} (seeds {[r['seed'] for r in mine]}): {figures}")
    if "plain" in arms:
        plain = {r["seed"]: r["test"] for r in rows if r["arm"] == "plain"}
        for arm in arms:
            pairs = [
                r["test"] - plain[r["seed"]] for r in rows if r["arm"] == arm and r["seed"] in plain
            ]
            if arm != "plain" and pairs:
                gain = mean_se([100 * p for p in pairs], 2)
                print(f"{arm} - plain, test split, same seeds: {gain} points (target >= +10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", nargs="+", default=["plain", "kv"], choices=["plain", "kv"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--recipe", default="cifar10-fast")
    parser.add_argument("--tta", default="flip", help="kv arm: also test with this TTA")
    parser.add_argument("--results", type=Path, default=Path("bench_fast.jsonl"))
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    folder = cifar_folder()
    if not args.summary_only:
        for seed in args.seeds:
            for arm in args.arms:
                if arm == "plain":
                    row = run_plain(folder, seed, args.minutes)
                else:
                    row = run_kv(folder, seed, args.minutes, args.recipe, args.tta)
                row = {"arm": arm if arm == "plain" else args.recipe, "seed": seed, **row}
                print(json.dumps(row), flush=True)
                with args.results.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    print(f"{args.minutes:g}-minute budget, 8,000 train / 1,000 val / 1,000 test, 2 cores")
    summarize(rows)


if __name__ == "__main__":
    main()
