"""Compression figures for the CIFAR-10 edge student: pruning, PTQ, QAT and PQAT.

On the CIFAR-10 subset (8,000 train / 2,000 val JPEGs) with the edge
recipe's student (``simple_cnn`` width 0.625) and the stages of
``cifar10-edge-int8``, through the library path ``kv train`` takes (``train``
with ``init``, ``prune``, ``qat``):

1. the float student (trained here, distilled when ``--teacher`` is given, or
   ``--student MODEL``);
2. the recipe's ``pruned`` stage from it at 0 (the same fine-tuning without
   pruning, the fair baseline), 50, 75 and 90% sparsity;
3. int8: post-training quantization (PTQ) of the student and of the 50% model,
   the recipe's ``qat`` stage from the student (QAT) and from the 50% model
   (PQAT), each converted to a full-integer TFLite file.

Accuracy is on the validation split: Keras models with ``evaluate``, TFLite
files with ai-edge-litert. Sizes are gzip -9 of the saved ``.keras`` file and
of the ``.tflite`` files. Targets: 50% sparsity costs <= 0.5 points; the best
int8 of the student (PTQ or QAT) within 1 point of float; pruned + int8 >= 6x
smaller (gzip) than the float student's fp32 TFLite.

    python benchmarks/bench_compress.py [--teacher RUN] [--student MODEL] \\
        [--student-epochs 60] [--prune-epochs 15] [--qat-epochs 5] [--calib 300]

With ``--seeds S [S ...]`` it measures only the 50% sparsity cost, which one
run per arm cannot settle (identical runs differ by up to 0.85 points on this
CPU): for each seed the recipe's ``pruned`` stage fine-tunes the student at 0%
and at 50% with that seed, and the cost is printed per seed and as a mean with
its standard error. Give one ``--student`` per seed (independently trained
students, paired in order) or one for all seeds.

    python benchmarks/bench_compress.py --teacher RUN --student S1 S2 S3 --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from common import cifar_folder, mean_se, out_dir

from kerasvision.backend import tf
from kerasvision.compress import gzip_size
from kerasvision.config import AugmentConfig, build_config, override_config, stage_configs
from kerasvision.export.tflite import to_tflite
from kerasvision.heldout import calibration_images
from kerasvision.models.saving import load_model
from kerasvision.training import train
from kerasvision.training.trainer import load_data

SPARSITIES = (0.0, 0.5, 0.75, 0.9)


def tflite_accuracy(content: bytes, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of a TFLite model, run image by image with 2 threads."""
    interpreter = Interpreter(model_content=content, num_threads=2)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    hits = 0
    for image, label in zip(images, labels, strict=True):
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
        interpreter.invoke()
        hits += int(np.argmax(interpreter.get_tensor(out["index"])[0]) == label)
    return hits / len(labels)


def keras_accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(model.predict(images, batch_size=256, verbose=0).argmax(1) == labels))


def collect(dataset) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in dataset:
        xs.append(x.numpy())
        ys.append(np.argmax(y.numpy(), axis=1))
    return np.concatenate(xs), np.concatenate(ys)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", help="distill from this run or model (as the recipe does)")
    parser.add_argument(
        "--student", nargs="+", help="trained float student(s) (skips training one)"
    )
    parser.add_argument("--student-epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--prune-epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--qat-epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--calib", type=int, default=300, help="training images for int8 PTQ")
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="measure only the 50%% sparsity cost, per seed"
    )
    args = parser.parse_args()
    if args.student and len(args.student) > 1 and len(args.student) != len(args.seeds or []):
        parser.error("give one --student per seed, or a single one")
    return args


def prune_stage(
    stage, args: argparse.Namespace, student: str, sparsity: float, out: Path, **changes
):
    """The recipe's ``pruned`` stage from ``student`` at ``sparsity``.

    In float32, as pruning always trains, so that 0% is the same fine-tuning
    without pruning; ``--prune-epochs`` replaces the recipe's epochs.
    """
    epochs = {"epochs": args.prune_epochs} if args.prune_epochs else {}
    return stage(
        "pruned",
        init=student,
        prune={"sparsity": sparsity},  # the recipe's prune.end and the rest kept
        mixed_precision="off",
        out=str(out),
        **epochs,
        **changes,
    )


def sparsity_cost(
    args: argparse.Namespace, stage, root: Path, val_x: np.ndarray, val_y: np.ndarray
) -> None:
    """The 50% sparsity cost over seeds: fine-tuning at 0% and at 50%, per seed."""
    students = args.student * (len(args.seeds) if len(args.student) == 1 else 1)
    vs_dense, vs_float = [], []
    for seed, student in zip(args.seeds, students, strict=True):
        runs = {
            sparsity: prune_stage(
                stage, args, student, sparsity, root / f"p{int(sparsity * 100)}-s{seed}", seed=seed
            )
            for sparsity in (0.0, 0.5)
        }
        dense, pruned = (runs[s].metrics.val.accuracy for s in (0.0, 0.5))
        start = keras_accuracy(load_model(student), val_x, val_y)
        vs_dense.append((dense - pruned) * 100)
        vs_float.append((start - pruned) * 100)
        print(
            f"seed {seed} ({student}): float student {start:.4f}, fine-tuned 0% {dense:.4f}, "
            f"50% {pruned:.4f} (model sparsity "
            f"{runs[0.5].metrics.pruning.model_sparsity:.1%}): cost {vs_dense[-1]:+.2f} "
            f"points vs 0%, {vs_float[-1]:+.2f} vs the float student"
        )
    print(
        f"50% sparsity over {len(args.seeds)} seed(s): {mean_se(vs_dense)} points lost vs the "
        f"same fine-tuning at 0% (target <= 0.5: {verdict(np.mean(vs_dense) <= 0.5)}), "
        f"{mean_se(vs_float)} vs the float student"
    )


def main() -> None:
    args = parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(2)
    started = time.perf_counter()
    recipe = build_config("cifar10-edge-int8", {"dataset": str(cifar_folder())})
    stages = dict(stage_configs(recipe))
    root = out_dir("compress")

    def stage(name: str, **changes):
        return train(override_config(stages[name], {"teacher": args.teacher, **changes}))

    plain = AugmentConfig(flip="none", translate=0.0)
    data = load_data(
        dataclasses.replace(stages["student"], augment=plain, image_size=32, channels=3)
    )
    val_x, val_y = collect(data.val)
    if args.seeds:
        if not args.student:
            raise SystemExit("--seeds needs --student: the trained float student(s)")
        sparsity_cost(args, stage, root, val_x, val_y)
        print(f"total time {(time.perf_counter() - started) / 60:.1f} min")
        return

    student_path = args.student[0] if args.student else None
    if student_path is None:
        epochs = args.student_epochs or stages["student"].epochs
        result = stage("student", epochs=epochs, out=str(root / "student"))
        student_path = str(Path(result.run_dir) / "model.keras")
    student = load_model(student_path)
    # The same calibration images kv export draws: spread over the training split.
    calib = calibration_images((32, 32, 3), args.calib, dataset=recipe.dataset)

    pruned: dict[float, object] = {}
    rows = []
    for sparsity in SPARSITIES:
        run = prune_stage(stage, args, student_path, sparsity, root / f"p{int(sparsity * 100)}")
        pruned[sparsity] = run
        model = run.model
        fp32 = to_tflite(model, "fp32")
        int8 = to_tflite(model, "int8", calibration=calib)
        rows.append(
            {
                "sparsity": run.metrics.pruning.model_sparsity if run.metrics.pruning else 0.0,
                "target": sparsity,
                "keras": keras_accuracy(model, val_x, val_y),
                "int8": tflite_accuracy(int8, val_x, val_y),
                "gz_keras": gzip_size(Path(run.run_dir) / "model.keras"),
                "gz_fp32": gzip_size(fp32),
                "gz_int8": gzip_size(int8),
            }
        )

    student_fp32 = to_tflite(student, "fp32")
    base_gz = gzip_size(student_fp32)
    float_acc = keras_accuracy(student, val_x, val_y)
    student_int8 = to_tflite(student, "int8", calibration=calib)

    qat_epochs = {"epochs": args.qat_epochs} if args.qat_epochs else {}
    qat = stage("qat", init=student_path, qat="qat", out=str(root / "qat"), **qat_epochs)
    p50_path = str(Path(pruned[0.5].run_dir) / "model.keras")
    pqat = stage("qat", init=p50_path, qat="pqat", out=str(root / "pqat"), **qat_epochs)
    p75_path = str(Path(pruned[0.75].run_dir) / "model.keras")
    pqat75 = stage("qat", init=p75_path, qat="pqat", out=str(root / "pqat75"), **qat_epochs)
    qat_int8 = to_tflite(qat.model, "int8", calibration=calib)
    pqat_int8 = to_tflite(pqat.model, "int8", calibration=calib)
    pqat75_int8 = to_tflite(pqat75.model, "int8", calibration=calib)

    print(
        f"\nstudent: {student_path} ({student.count_params():,} params), "
        f"val accuracy {float_acc:.4f}"
    )
    print(
        f"fine-tuning: {args.prune_epochs or stages['pruned'].epochs} epochs "
        f"pruned stage, {stages['qat'].epochs if not qat_epochs else args.qat_epochs} epochs QAT "
        f"stage, teacher {args.teacher or 'none'}; {len(val_y)} val images, {len(calib)} "
        f"calibration images; gzip -9 sizes in bytes"
    )
    print(
        f"\nfloat student: fp32 TFLite gzip {base_gz:,} bytes, "
        f".keras gzip {gzip_size(student_path):,} bytes\n"
    )
    print(
        "| target sparsity | model sparsity | val acc (Keras) | int8 PTQ acc | gzip .keras | "
        "gzip fp32 .tflite | gzip int8 .tflite | float student / int8 |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['target']:.0%} | {r['sparsity']:.1%} | {r['keras']:.4f} | {r['int8']:.4f} | "
            f"{r['gz_keras']:,} | {r['gz_fp32']:,} | {r['gz_int8']:,} | "
            f"{base_gz / r['gz_int8']:.1f}x |"
        )

    ptq_acc = tflite_accuracy(student_int8, val_x, val_y)
    qat_acc = tflite_accuracy(qat_int8, val_x, val_y)
    p50_ptq = rows[1]["int8"]
    pqat_acc = tflite_accuracy(pqat_int8, val_x, val_y)
    pqat75_acc = tflite_accuracy(pqat75_int8, val_x, val_y)
    print(
        "\n| model | float (Keras) | int8 PTQ | int8 QAT / PQAT | QAT Keras | gzip int8 .tflite |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| student (dense) | {float_acc:.4f} | {ptq_acc:.4f} | {qat_acc:.4f} (QAT) | "
        f"{qat.metrics.val.accuracy:.4f} | {gzip_size(qat_int8):,} |"
    )
    print(
        f"| pruned 50% | {rows[1]['keras']:.4f} | {p50_ptq:.4f} | {pqat_acc:.4f} (PQAT) | "
        f"{pqat.metrics.val.accuracy:.4f} | {gzip_size(pqat_int8):,} |"
    )
    print(
        f"| pruned 75% | {rows[2]['keras']:.4f} | {rows[2]['int8']:.4f} | "
        f"{pqat75_acc:.4f} (PQAT) | "
        f"{pqat75.metrics.val.accuracy:.4f} | {gzip_size(pqat75_int8):,} |"
    )

    cost = (rows[0]["keras"] - rows[1]["keras"]) * 100
    print(
        f"\n50% sparsity: {cost:+.2f} points lost vs the same fine-tuning at 0% "
        f"(target <= 0.5: {verdict(cost <= 0.5)}), "
        f"{(float_acc - rows[1]['keras']) * 100:+.2f} vs the float student"
    )
    best = max(ptq_acc, qat_acc)
    print(
        f"best int8 of the student ({'QAT' if qat_acc > ptq_acc else 'PTQ'}) {best:.4f}: "
        f"{(float_acc - best) * 100:+.2f} points lost vs float (target <= 1: "
        f"{verdict(float_acc - best <= 0.01)})"
    )
    keras_gz = gzip_size(student_path)
    for label, size, acc in (
        ("PQAT 50% int8", gzip_size(pqat_int8), pqat_acc),
        ("PQAT 75% int8", gzip_size(pqat75_int8), pqat75_acc),
        ("pruned 75% PTQ int8", rows[2]["gz_int8"], rows[2]["int8"]),
        ("pruned 90% PTQ int8", rows[3]["gz_int8"], rows[3]["int8"]),
    ):
        print(
            f"{label} (acc {acc:.4f}, {(float_acc - acc) * 100:+.2f} points lost): "
            f"{base_gz / size:.2f}x smaller than the float student's fp32 TFLite, "
            f"{keras_gz / size:.2f}x than its .keras (TFMOT's measure) "
            f"(gzip; target >= 6: {verdict(min(base_gz, keras_gz) / size >= 6)})"
        )
    print(f"total time {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
