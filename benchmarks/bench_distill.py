"""Knowledge distillation gain on the CIFAR-10 subset (8,000 train / 2,000 val JPEGs).

Trains the ``cifar10-edge`` recipe's student twice with the same epochs and
seed, from scratch and distilled from a teacher, and prints the accuracy gain,
the student's parameter count and its batch-1 latency as fractions of the
teacher's. Targets: gain >= +1.5 points, parameters <= 1/8 of the teacher's.

    python benchmarks/bench_distill.py [--teacher RUN_DIR_OR_MODEL] [--teacher-minutes 15]
        [--student-model NAME --student-width W] [--student-epochs N]
        [--alpha A [A ...]] [--temperature T [T ...]]

Without ``--teacher`` it first trains the recipe's teacher within the budget
(the path is printed: pass it as ``--teacher`` next time). Several ``--alpha``
or ``--temperature`` values distill one student per combination, all compared
with the same from-scratch student.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

import numpy as np
from common import cifar_folder, out_dir

from kerasvision.backend import tf
from kerasvision.config import build_config, stage_configs
from kerasvision.training import train
from kerasvision.training.trainer import load_teacher


def batch1_latency_ms(model, size: int, runs: int = 300) -> float:
    """Mean batch-1 latency of a compiled forward pass, after warm-up."""
    forward = tf.function(lambda x: model(x, training=False))
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)), tf.float32)
    for _ in range(20):
        forward(x)
    start = time.perf_counter()
    for _ in range(runs):
        forward(x)
    return (time.perf_counter() - start) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", help="a trained teacher: run directory or model file")
    parser.add_argument("--teacher-minutes", type=float, default=15.0)
    parser.add_argument("--student-model", help="default: the recipe's")
    parser.add_argument("--student-width", type=float, help="default: the recipe's")
    parser.add_argument("--student-epochs", type=int, default=None)
    parser.add_argument("--alpha", type=float, nargs="+", help="default: the recipe's")
    parser.add_argument("--temperature", type=float, nargs="+", help="default: the recipe's")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(2)
    folder = cifar_folder()
    recipe = build_config("cifar10-edge", {"dataset": str(folder)})
    stages = dict(stage_configs(recipe))
    root = out_dir("distill")
    teacher_path = args.teacher
    if teacher_path is None:
        teacher_cfg = dataclasses.replace(
            stages["teacher"], time=args.teacher_minutes, out=str(root / "teacher")
        )
        teacher_path = str(train(teacher_cfg).run_dir)
        print(f"teacher trained: {teacher_path}", flush=True)
    student = stages["student"]
    for key in ("model", "width", "epochs"):
        if getattr(args, f"student_{key}"):
            student = dataclasses.replace(student, **{key: getattr(args, f"student_{key}")})
    scratch = train(dataclasses.replace(student, teacher=None, out=str(root / "scratch")))
    settings = list(
        itertools.product(
            args.alpha or [student.distill.alpha],
            args.temperature or [student.distill.temperature],
        )
    )
    distilled = [
        train(
            dataclasses.replace(
                student,
                teacher=teacher_path,
                distill=dataclasses.replace(student.distill, alpha=alpha, temperature=t),
                out=str(root / f"distilled-a{alpha}-t{t}"),
            )
        )
        for alpha, t in settings
    ]
    teacher = load_teacher(teacher_path)
    size = student.image_size or 32
    t_ms = batch1_latency_ms(teacher, size)
    s_ms = batch1_latency_ms(distilled[0].model, size)
    a_scratch = scratch.metrics["val"]["accuracy"]
    t_params = distilled[0].metrics["teacher"]["params"]
    s_params = distilled[0].metrics["params"]
    print(f"runs: {root}")
    print(f"teacher: {teacher_path} ({t_params:,} params, batch-1 {t_ms:.2f} ms)")
    print(
        f"student {student.model} width {student.width}: {s_params:,} params, "
        f"{student.epochs} epochs, seed {student.seed}, batch-1 {s_ms:.2f} ms"
    )
    for (alpha, t), result in zip(settings, distilled, strict=True):
        a_kd = result.metrics["val"]["accuracy"]
        print(
            f"alpha {alpha} T {t}: val accuracy: scratch {a_scratch:.4f}  distilled {a_kd:.4f}  "
            f"gain {100 * (a_kd - a_scratch):+.2f} points "
            f"(target >= +1.5: {'PASS' if a_kd - a_scratch >= 0.015 else 'FAIL'})"
        )
    print(
        f"student/teacher: params {s_params / t_params:.3f} "
        f"(target <= 0.125: {'PASS' if s_params / t_params <= 0.125 else 'FAIL'}), "
        f"batch-1 latency {s_ms / t_ms:.3f}"
    )


if __name__ == "__main__":
    main()
