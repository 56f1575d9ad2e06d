"""Export figures for the CIFAR-10 edge student: every format and precision, verified.

Trains the ``cifar10-edge`` recipe's student from scratch on the CIFAR-10
subset (or takes ``--run``), exports it with ``export_model`` and prints, per
format and precision, size, held-out accuracy, top-1 agreement with Keras and
batch-1 latency with 2 threads. Targets (int8 TFLite vs Keras float and fp32
TFLite): within 0.5 points, >= 99% agreement, <= 1/4 of the size, >= 2.5x
faster at batch 1; int8 Q/DQ ONNX within 1 point.

    python benchmarks/bench_export.py [--run RUN_DIR] [--epochs 30] [--model resnet20]
"""

from __future__ import annotations

import argparse
import dataclasses

from common import cifar_folder, out_dir

from kerasvision.config import build_config, stage_configs
from kerasvision.export import export_model
from kerasvision.training import train


def train_student(epochs: int, model: str | None) -> str:
    recipe = build_config("cifar10-edge", {"dataset": str(cifar_folder())})
    stages = dict(stage_configs(recipe))
    config = stages["teacher" if model == "resnet20" else "student"]
    config = dataclasses.replace(config, teacher=None, epochs=epochs, out=str(out_dir("export")))
    result = train(config)
    print(
        f"trained {config.model} (width {config.width}) for {epochs} epochs: "
        f"val accuracy {result.metrics['val']['accuracy']:.4f}, {result.metrics['params']:,} params"
    )
    return str(result.run_dir)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", help="a trained run directory (skips training)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--model", choices=["student", "resnet20"], default="student")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    run = args.run or train_student(args.epochs, args.model)
    report = export_model(run, threads=args.threads, max_images=args.images)
    rows = [report.reference, *report.results]
    print(f"\nrun: {run}  ({report.reference.images} held-out images, {args.threads} threads)")
    print("| format | precision | size MB | accuracy | agreement | batch-1 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r.format} | {r.precision} | {r.size_mb:.3f} | {r.accuracy:.4f} | "
            f"{r.agreement:.4f} | {r.latency_ms:.3f} |"
        )
    get = {(r.format, r.precision): r for r in report.results}
    keras, fp32, int8 = report.reference, get[("tflite", "fp32")], get[("tflite", "int8")]
    drop = (keras.accuracy - int8.accuracy) * 100
    print(
        f"\nint8 TFLite vs Keras float: {drop:+.2f} points lost "
        f"(target <= 0.5: {verdict(drop <= 0.5)}), agreement {int8.agreement:.4f} "
        f"(target >= 0.99: {verdict(int8.agreement >= 0.99)})"
    )
    ratio = int8.size_mb / fp32.size_mb
    speed = fp32.latency_ms / int8.latency_ms
    print(
        f"int8/fp32 TFLite size {ratio:.3f} (target <= 0.25: {verdict(ratio <= 0.25)}), "
        f"batch-1 speed-up {speed:.2f}x (target >= 2.5: {verdict(speed >= 2.5)})"
    )
    if ("onnx", "int8") in get:
        onnx_drop = (keras.accuracy - get[("onnx", "int8")].accuracy) * 100
        print(
            f"int8 Q/DQ ONNX in onnxruntime: {onnx_drop:+.2f} points lost "
            f"(target <= 1: {verdict(onnx_drop <= 1)})"
        )


if __name__ == "__main__":
    main()
