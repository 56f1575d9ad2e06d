"""Knowledge distillation gain on the CIFAR-10 subset (8,000 train / 2,000 val JPEGs).

Trains the ``cifar10-edge`` recipe's student twice with the same epochs and
seed, from scratch and distilled from a teacher, and prints the accuracy gain,
the student's parameter count and its batch-1 latency as fractions of the
teacher's. Targets: gain >= +1.5 points, parameters <= 1/8 of the teacher's.

    python benchmarks/bench_distill.py [--teacher RUN_DIR_OR_MODEL] [--teacher-minutes 15]
        [--student-model NAME --student-width W] [--student-epochs N]
        [--alpha A [A ...]] [--temperature T [T ...]] [--seeds S [S ...]]

Without ``--teacher`` it first trains the recipe's teacher within the budget
(the path is printed: pass it as ``--teacher`` next time). Several ``--alpha``
or ``--temperature`` values distill one student per combination, all compared
with the same from-scratch student. Several ``--seeds`` repeat every run with
another initialization, shuffling and augmentation seed; the train/validation
split stays the teacher's (``split_seed``), and the gain is reported per seed
and as a mean with its standard error.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

import numpy as np
from common import cifar_folder, mean_se, out_dir


def batch1_latency_ms(model, size: int, runs: int = 300) -> float:
    """Mean batch-1 latency of a compiled forward pass, after warm-up."""
    from kerasvision.backend import tf

    forward = tf.function(lambda x: model(x, training=False))
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)), tf.float32)
    for _ in range(20):
        forward(x)
    start = time.perf_counter()
    for _ in range(runs):
        forward(x)
    return (time.perf_counter() - start) / runs * 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", help="a trained teacher: run directory or model file")
    parser.add_argument("--teacher-minutes", type=float, default=15.0)
    parser.add_argument("--student-model", help="default: the recipe's")
    parser.add_argument("--student-width", type=float, help="default: the recipe's")
    parser.add_argument("--student-epochs", type=int, default=None)
    parser.add_argument("--alpha", type=float, nargs="+", help="default: the recipe's")
    parser.add_argument("--temperature", type=float, nargs="+", help="default: the recipe's")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: the recipe's seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any student config key, e.g. augment.mix_prob=1.0 (repeatable)",
    )
    return parser.parse_args()


def student_config(stages: dict, args: argparse.Namespace):
    """The recipe's student stage with the command line's overrides."""
    from kerasvision.cli.train import parse_set
    from kerasvision.config import override_config

    student = stages["student"]
    for key in ("model", "width", "epochs"):
        if getattr(args, f"student_{key}"):
            student = dataclasses.replace(student, **{key: getattr(args, f"student_{key}")})
    return override_config(student, parse_set(tuple(args.set)))


def gain_line(label: str, gains: list[float]) -> str:
    """Mean gain in points over seeds, with its standard error when there are several."""
    verdict = "PASS" if np.mean(gains) >= 1.5 else "FAIL"
    return (
        f"{label}: mean gain {mean_se(gains)} points over {len(gains)} seed(s) "
        f"(target >= +1.5: {verdict})"
    )


def main() -> None:
    args = parse_args()
    from kerasvision.backend import tf
    from kerasvision.config import build_config, stage_configs
    from kerasvision.models.loading import load_teacher
    from kerasvision.training import train

    tf.config.threading.set_intra_op_parallelism_threads(2)
    recipe = build_config("cifar10-edge", {"dataset": str(cifar_folder())})
    stages = dict(stage_configs(recipe))
    root = out_dir("distill")
    teacher_path = args.teacher
    if teacher_path is None:
        teacher_cfg = dataclasses.replace(
            stages["teacher"], time=args.teacher_minutes, out=str(root / "teacher")
        )
        teacher_path = str(train(teacher_cfg).run_dir)
        print(f"teacher trained: {teacher_path}", flush=True)
    student = student_config(stages, args)
    settings = list(
        itertools.product(
            args.alpha or [student.distill.alpha],
            args.temperature or [student.distill.temperature],
        )
    )
    seeds = args.seeds or [student.seed]
    scratch, distilled = {}, {}
    for seed in seeds:
        run = dataclasses.replace(student, seed=seed)
        scratch[seed] = train(
            dataclasses.replace(run, teacher=None, out=str(root / f"scratch-s{seed}"))
        )
        for alpha, t in settings:
            distill = dataclasses.replace(run.distill, alpha=alpha, temperature=t)
            out = str(root / f"distilled-a{alpha}-t{t}-s{seed}")
            distilled[alpha, t, seed] = train(
                dataclasses.replace(run, teacher=teacher_path, distill=distill, out=out)
            )
    teacher = load_teacher(teacher_path)
    size = student.image_size or 32
    first = distilled[(*settings[0], seeds[0])]
    t_ms = batch1_latency_ms(teacher, size)
    s_ms = batch1_latency_ms(first.model, size)
    t_params, s_params = first.metrics.teacher.params, first.metrics.params
    print(f"runs: {root}")
    print(f"teacher: {teacher_path} ({t_params:,} params, batch-1 {t_ms:.2f} ms)")
    print(
        f"student {student.model} width {student.width}: {s_params:,} params, "
        f"{student.epochs} epochs, split seed {student.split_seed}, batch-1 {s_ms:.2f} ms"
    )
    if args.set:
        print(f"student overrides: {' '.join(args.set)}")
    for alpha, t in settings:
        gains = []
        for seed in seeds:
            a_scratch = scratch[seed].metrics.val.accuracy
            a_kd = distilled[alpha, t, seed].metrics.val.accuracy
            gains.append(100 * (a_kd - a_scratch))
            print(
                f"alpha {alpha} T {t} seed {seed}: val accuracy: scratch {a_scratch:.4f}  "
                f"distilled {a_kd:.4f}  gain {gains[-1]:+.2f} points"
            )
        print(gain_line(f"alpha {alpha} T {t}", gains))
    print(
        f"student/teacher: params {s_params / t_params:.3f} "
        f"(target <= 0.125: {'PASS' if s_params / t_params <= 0.125 else 'FAIL'}), "
        f"batch-1 latency {s_ms / t_ms:.3f}"
    )


if __name__ == "__main__":
    main()
