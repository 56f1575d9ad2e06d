"""Export matrix: stack x format x precision, accepted or not, and top-1 agreement with Keras.

For each run directory given (or, with none, a ``digits-edge`` run and a
``cifar10-edge``-sized student trained here), exports every format and
precision with ``export_model`` and prints one row per (stack, format,
precision): whether the stack accepted the file (``ok``, ``FAILED``, ``n/a``
with the reason) and, for the stacks that run it, top-1 agreement with Keras
on the held-out images. Engine rows say that no engine was built here when
TensorRT is absent. Then the size/latency table of the verified files.

    python benchmarks/bench_export.py RUN_DIR [RUN_DIR ...] [--images 1000]
    python benchmarks/bench_export.py            # trains digits-edge and the cifar student
"""

from __future__ import annotations

import argparse
import dataclasses

from common import cifar_folder, out_dir

from kerasvision.config import build_config, stage_configs
from kerasvision.export import FORMATS, export_model
from kerasvision.export.engine import tensorrt_missing
from kerasvision.training import train

MARK = {"ok": "accepted", "failed": "REFUSED", "unavailable": "n/a"}


def train_digits_edge() -> str:
    """``kv train --config digits-edge`` into a fresh folder."""
    result = train(build_config("digits-edge", {"out": str(out_dir("export-digits"))}))
    return str(result.run_dir)


def train_cifar_student(epochs: int, model: str = "student") -> str:
    """The ``cifar10-edge`` recipe's student (or its resnet20 teacher), trained from scratch."""
    recipe = build_config("cifar10-edge", {"dataset": str(cifar_folder())})
    config = dict(stage_configs(recipe))["teacher" if model == "resnet20" else "student"]
    config = dataclasses.replace(config, teacher=None, epochs=epochs, out=str(out_dir("export")))
    return str(train(config).run_dir)


def matrix_rows(report) -> list[tuple[str, str, str, str, str, str]]:
    """``(stack, format, precision, verdict, agreement, message)`` for every file and check."""
    rows = []
    for r in report.results:
        for stack, check in r.checks.items():
            runs_it = stack == FORMATS[r.format].runtime
            agreement = f"{r.agreement:.4f}" if runs_it else "-"
            if not runs_it and check.get("agreement") is not None:  # MediaPipe: with LiteRT
                agreement = f"{check['agreement']:.4f} (with LiteRT)"
            message = check["message"] if check["status"] != "ok" or not runs_it else ""
            rows.append((stack, r.format, r.precision, MARK[check["status"]], agreement, message))
    for fmt, precision, error in report.failures:
        if fmt == "engine" and tensorrt_missing():
            rows.append(("TensorRT", fmt, precision, "not built here", "-", tensorrt_missing()))
        else:
            rows.append(("(export)", fmt, precision, "FAILED", "-", error))
    if "engine" not in {r.format for r in report.results} | {f for f, _, _ in report.failures}:
        for precision in FORMATS["engine"].precisions:
            rows.append(
                ("TensorRT", "engine", precision, "not built here", "-", tensorrt_missing())
            )
    return rows


def print_run(run: str, images: int, threads: int) -> None:
    report = export_model(run, threads=threads, max_images=images)
    print(f"\nrun: {run}  ({report.reference.images} held-out images, {threads} threads)")
    print("| stack | format | precision | verdict | top-1 agreement with Keras | note |")
    print("| --- | --- | --- | --- | ---: | --- |")
    for row in matrix_rows(report):
        print("| " + " | ".join(row) + " |")
    print("\n| format | precision | size MB | accuracy | agreement | batch-1 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in [report.reference, *report.results]:
        print(
            f"| {r.format} | {r.precision} | {r.size_mb:.3f} | {r.accuracy:.4f} | "
            f"{r.agreement:.4f} | {r.latency_ms:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="*", help="trained run directories (default: train two)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the cifar student")
    parser.add_argument("--model", choices=["student", "resnet20"], default="student")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    runs = args.runs or [train_digits_edge(), train_cifar_student(args.epochs, args.model)]
    for run in runs:
        print_run(run, args.images, args.threads)


if __name__ == "__main__":
    main()
