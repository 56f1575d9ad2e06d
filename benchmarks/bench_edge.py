"""The whole ``cifar10-edge-int8`` chain in a time budget, down to the int8 TFLite file.

On the split of ``bench_fast.py`` (8,000 train / 1,000 val / 1,000 test of the
CIFAR-10 subset, split seed 42): ``kv train -c cifar10-edge-int8 --time
MINUTES`` (teacher -> distilled resnet8 -> pruned 50% -> PQAT), then ``kv
export -f tflite -p int8`` of the final model and ``kv eval`` of that file on
val and test. Prints each stage (epochs, minutes used of those given, val and
test accuracy), the chain's wall time, and the int8 file's figures. With
``--scratch`` it also trains the same student without the teacher for the
minutes the distilled student was given: the distillation gain at the same
budget. ``--scratch-only`` does only that, for the chains already in ``--results``
(the seeds given), and prints the gain.

    python benchmarks/bench_edge.py --minutes 30 --seeds 1 [--scratch]
    python benchmarks/bench_edge.py --seeds 1 --scratch-only --results edge.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from bench_fast import SPLIT
from common import cifar_folder, mean_se, out_dir


def _chain(folder: Path, seed: int, minutes: float) -> tuple[dict, object]:
    from kerasvision.config import build_config
    from kerasvision.training import train

    out = out_dir(f"edge-{seed}") / "run"
    overrides = {"dataset": str(folder), "time": minutes, "seed": seed, "out": str(out), **SPLIT}
    start = time.perf_counter()
    result = train(build_config("cifar10-edge-int8", overrides))
    wall = time.perf_counter() - start
    return {"chain_minutes": wall / 60, "run": str(result.run_dir)}, result


def _int8(run: str) -> dict:
    from kerasvision.evaluation import evaluate
    from kerasvision.export import export_model

    start = time.perf_counter()
    report = export_model(run, formats=["tflite"], precisions=["int8"], threads=2)
    export_minutes = (time.perf_counter() - start) / 60
    path = next(p for p in report.artifacts if str(p).endswith(".tflite"))
    figures = {"export_minutes": export_minutes, "int8_bytes": Path(path).stat().st_size}
    for split in ("val", "test"):
        result, _ = evaluate(str(path), split=split, threads=2, out="")
        figures[f"int8_{split}"] = result.accuracy
    return figures


def _scratch(folder: Path, seed: int, student_config, minutes: float) -> float:
    from kerasvision.training import train

    config = dataclasses.replace(
        student_config,
        teacher=None,
        time=minutes,
        budget_share=None,
        label_smoothing=0.1,
        out=str(out_dir(f"scratch-{seed}") / "run"),
    )
    return train(config).metrics.test.accuracy


def _scratch_student(folder: Path, seed: int, minutes: float) -> float:
    """The chain's student stage trained without its teacher for ``minutes``: test accuracy."""
    from kerasvision.config import build_config, stage_configs

    overrides = {"dataset": str(folder), "seed": seed, **SPLIT}
    stages = dict(stage_configs(build_config("cifar10-edge-int8", overrides)))
    return _scratch(folder, seed, stages["student"], minutes)


def _scratch_only(folder: Path, args) -> None:
    """The distillation gain for chains measured earlier (rows of ``args.results``)."""
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    gains = []
    for row in (r for r in rows if r["seed"] in args.seeds):
        minutes = row.get("student_minutes")
        if minutes is None:  # rows written before student_minutes was recorded
            metrics = json.loads((Path(row["run"]) / "metrics.json").read_text())
            minutes = metrics["stages"]["student"]["budget_minutes"]
        scratch = _scratch_student(folder, row["seed"], minutes)
        gains.append(100 * (row["student_test"] - scratch))
        print(
            f"seed {row['seed']}: distilled student test {row['student_test']:.4f}, from scratch "
            f"in the same {minutes:.1f} min {scratch:.4f}: gain {gains[-1]:+.2f} points",
            flush=True,
        )
    print(f"distillation gain {mean_se(gains, 2)} points over {len(gains)} seed(s) (target >= +3)")


def _stage_rows(metrics) -> list[str]:
    rows = []
    for name, stage in metrics.stages.items():
        given = f"{stage.budget_minutes:.1f}" if stage.budget_minutes else "-"
        rows.append(
            f"  {name:8s} {stage.model:9s} {stage.params:>9,} params  {stage.epochs:>3} epochs  "
            f"{stage.train_seconds / 60:5.1f} of {given:>5} min  val {stage.val.accuracy:.4f}  "
            f"test {stage.test.accuracy:.4f}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--scratch", action="store_true", help="also the student from scratch")
    parser.add_argument(
        "--scratch-only", action="store_true", help="only the scratch student, for --results"
    )
    parser.add_argument("--results", type=Path, default=Path("bench_edge.jsonl"))
    args = parser.parse_args()
    folder = cifar_folder()
    if args.scratch_only:
        _scratch_only(folder, args)
        return
    rows = []
    for seed in args.seeds:
        row, result = _chain(folder, seed, args.minutes)
        m = result.metrics
        row.update(_int8(row["run"]))
        student = m.stages["student"]
        row |= {"seed": seed, "student_test": student.test.accuracy, "params": m.params}
        row["teacher_test"] = m.stages["teacher"].test.accuracy
        print(f"seed {seed}: cifar10-edge-int8 --time {args.minutes:g}")
        print("\n".join(_stage_rows(m)))
        row["student_minutes"] = student.budget_minutes
        if args.scratch:
            row["scratch_test"] = _scratch_student(folder, seed, student.budget_minutes)
        print(json.dumps(row), flush=True)
        with args.results.open("a") as f:
            f.write(json.dumps(row) + "\n")
        rows.append(row)

    def figure(key: str, digits: int = 4) -> str:
        return mean_se([r[key] for r in rows], digits, sign=False)

    print(f"cifar10-edge-int8, --time {args.minutes:g}, seeds {args.seeds}, 2 cores")
    print(
        f"chain wall time: {figure('chain_minutes', 1)} min (target <= 30), then export "
        f"{figure('export_minutes', 1)} min"
    )
    print(
        f"int8 TFLite student ({rows[0]['params']:,} params, {rows[0]['int8_bytes']:,} bytes): "
        f"val {figure('int8_val')}, test {figure('int8_test')} (target >= 0.85)"
    )
    print(
        f"teacher test {figure('teacher_test')}, distilled float student test "
        f"{figure('student_test')}"
    )
    if args.scratch:
        gains = [100 * (r["student_test"] - r["scratch_test"]) for r in rows]
        print(
            f"student from scratch, same minutes: test {figure('scratch_test')}; "
            f"distillation gain {mean_se(gains, 2)} points (target >= +3)"
        )


if __name__ == "__main__":
    main()
