"""Which backbone survives int8: every registered ImageNet family, measured on one machine.

For each family, at ``--size`` (default: the family's minimum input size):

- parameters and FLOPs at that size (``kerasvision.models.flops``);
- batch-1 latency of Keras and of fp32 and int8 TFLite on 2 threads (median ms);
- the int8 ``.tflite`` size;
- after the same short training from scratch on the CIFAR-10 subset (extracted to a
  temporary folder; disjoint train and test draws) upscaled
  to that size (``--epochs``, ``--train-images``, Adam 1e-3, batch 32, then the
  BatchNorm statistics recomputed over ``--precise-bn`` batches): float accuracy, int8 PTQ
  accuracy, int8 top-1 agreement with the float model, and whether
  ``--qat`` (``kerasvision.compress.qat.quantize_model``) prepares it and
  converts to int8.

    python benchmarks/bench_backbones.py --families "mobilenet_v2,efficientnet_lite0" \\
        --epochs 1 --train-images 300 --test-images 100

``--save-table FILE`` writes the figures as JSON after each family
(``kerasvision/models/int8_measured.json`` makes ``kv models`` show the measured
agreement); run again with the same settings, it resumes where it stopped.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from kerasvision.backend import keras, tf
from kerasvision.compress.qat import quantize_model
from kerasvision.export.tflite import to_tflite
from kerasvision.models import create_model, get_model_spec, list_models
from kerasvision.models.flops import count_flops
from kerasvision.training.precise_bn import recompute_bn_statistics


def load_images(folder: Path, counts: tuple[int, int], size: int) -> list[tuple]:
    """Two disjoint random draws (train, test) from the class folders, resized to ``size``."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [(f, k) for k, c in enumerate(classes) for f in sorted((folder / c).iterdir())]
    order = np.random.default_rng(0).permutation(len(files))
    draws, start = [], 0
    for count in counts:
        picked = order[start : start + count]
        start += count
        images = [
            np.asarray(Image.open(files[i][0]).convert("RGB").resize((size, size)), "float32")
            for i in picked
        ]
        draws.append((np.stack(images), np.array([files[i][1] for i in picked])))
    return draws


SHARED = Path("/work/shared/data/cifar10-subset.tar.gz")


def extract(archive: Path) -> Path:
    """Extracts the archive into a temporary folder; returns its image folder (class folders)."""
    if not archive.is_file():
        raise SystemExit(f"missing {archive}")
    root = Path(tempfile.mkdtemp(prefix="kv-bench-backbones-"))
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    return next(p for p in root.rglob("*") if p.is_dir() and p.name == "train")


def tflite_run(content: bytes, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Predictions image by image on 2 threads, and the median latency in ms."""
    interpreter = Interpreter(model_content=content, num_threads=2)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    preds, times = [], []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
        preds.append(int(np.argmax(interpreter.get_tensor(out["index"])[0])))
    return np.array(preds), 1000 * statistics.median(times)


def keras_latency(model, image: np.ndarray, repeats: int = 20) -> float:
    """Median batch-1 latency of the model as a traced ``tf.function``, in ms."""
    call = tf.function(lambda x: model(x, training=False))
    call(image[None]).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(image[None]).numpy()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def qat_works(model, calibration: np.ndarray) -> str:
    """``yes (N float)`` when QAT prepares the model and it converts to int8, else why not."""
    try:
        quantized = quantize_model(model)
        to_tflite(quantized.model, "int8", calibration=calibration[:16])
    except Exception as error:  # the verdict is the figure: record why
        return f"no: {str(error).splitlines()[0][:60]}"
    return f"yes ({len(quantized.float_layers)} float layers)"


def measure(name: str, args, data: Path) -> dict:
    spec = get_model_spec(name)
    size = args.size or spec.min_size or 32
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_images(
        data, (args.train_images, args.test_images), size
    )
    model = create_model(name, num_classes=10, input_shape=(size, size, 3))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=0)
    train_s = time.perf_counter() - start
    # 3 short epochs leave BatchNorm's moving statistics far behind the weights (the
    # model then predicts one class in inference mode): recompute them, as kv train does.
    images = tf.data.Dataset.from_tensor_slices(x_train).batch(32)
    bn_batches = recompute_bn_statistics(model, images, max_batches=args.precise_bn)
    float_pred = model.predict(x_test, batch_size=64, verbose=0).argmax(1)
    fp32 = to_tflite(model, "fp32")
    int8 = to_tflite(model, "int8", calibration=x_train[: args.calibration])
    _, fp32_ms = tflite_run(fp32, x_test[: args.latency_images])
    int8_pred, int8_ms = tflite_run(int8, x_test)
    return {
        "model": name,
        "size": size,
        "params": int(model.count_params()),
        "gflops": count_flops(model) / 1e9,
        "keras_ms": keras_latency(model, x_test[0]),
        "fp32_ms": fp32_ms,
        "int8_ms": int8_ms,
        "int8_mb": len(int8) / 2**20,
        "train_s": train_s,
        "precise_bn_batches": bn_batches,
        "float_acc": float(np.mean(float_pred == y_test)),
        "int8_acc": float(np.mean(int8_pred == y_test)),
        "int8_agreement": float(np.mean(int8_pred == float_pred)),
        "qat": qat_works(model, x_train) if not args.no_qat else "not run",
    }


COLUMNS = (
    ("model", "{}"), ("size", "{}"), ("params", "{:,}"), ("gflops", "{:.3f}"),
    ("keras_ms", "{:.1f}"), ("fp32_ms", "{:.1f}"), ("int8_ms", "{:.1f}"), ("int8_mb", "{:.2f}"),
    ("float_acc", "{:.3f}"), ("int8_acc", "{:.3f}"), ("int8_agreement", "{:.3f}"), ("qat", "{}"),
)  # fmt: skip


def markdown_row(row: dict) -> str:
    return "| " + " | ".join(fmt.format(row[key]) for key, fmt in COLUMNS) + " |"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--families",
        default="*",
        help="Comma-separated names or patterns, measured in that order. Defaults to '*'.",
    )
    parser.add_argument("--epochs", type=int, default=3, help="Training epochs (same for all).")
    parser.add_argument("--train-images", type=int, default=2000, help="Training images.")
    parser.add_argument("--test-images", type=int, default=500, help="Test images.")
    parser.add_argument("--calibration", type=int, default=200, help="int8 calibration images.")
    parser.add_argument("--latency-images", type=int, default=50, help="Images timed for fp32.")
    parser.add_argument(
        "--precise-bn", type=int, default=63, help="Batches for the BN statistics after training."
    )
    parser.add_argument("--size", type=int, default=0, help="Input size (0: each minimum).")
    parser.add_argument("--no-qat", action="store_true", help="Skip the QAT check.")
    parser.add_argument(
        "--archive", type=Path, default=SHARED, help="The CIFAR-10 subset (.tar.gz)."
    )
    parser.add_argument("--save-table", type=Path, help="Write the figures as JSON here.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    patterns = [p.strip() for p in args.families.split(",")]
    families = [n for n in list_models() if get_model_spec(n).family]
    names = [n for p in patterns for n in families if fnmatch.fnmatch(n, p)]  # in pattern order
    names = list(dict.fromkeys(names))
    data = extract(args.archive)
    print(
        f"{len(names)} families, {args.epochs} epoch(s) from scratch on {args.train_images} "
        f"CIFAR-10 images, {args.test_images} test images, batch-1 latency on 2 threads"
    )
    print("| " + " | ".join(key for key, _ in COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    table = load_table(args)
    for name in names:
        if name in table["models"]:
            print(markdown_row(table["models"][name]) + " (from the table)", flush=True)
            continue
        try:
            row = measure(name, args, data)
        except Exception as error:  # one family failing is a figure, not the end of the run
            print(f"| {name} | failed: {str(error).splitlines()[0][:120]} |", flush=True)
            continue
        print(markdown_row(row), flush=True)
        if args.save_table:
            table["models"][name] = row
            save_table(table, args.save_table)


def settings(args) -> dict:
    """What the figures depend on; a saved table is only resumed with the same settings."""
    keys = ("epochs", "train_images", "test_images", "calibration", "size", "precise_bn")
    return {key: getattr(args, key) for key in keys}


def load_table(args) -> dict:
    """The ``--save-table`` file when it was made with the same settings, else an empty table.

    Rows already in it are printed, not measured again: a long run can be resumed.
    """
    empty = {**settings(args), "models": {}}
    if not args.save_table or not args.save_table.is_file():
        return empty
    table = json.loads(args.save_table.read_text(encoding="utf-8"))
    if {key: table.get(key) for key in settings(args)} != settings(args):
        raise SystemExit(f"{args.save_table} was measured with other settings; move it away")
    return table


def save_table(table: dict, path: Path) -> None:
    """Writes the table under a temporary name, then renames it over ``path``."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


if __name__ == "__main__":
    main()
