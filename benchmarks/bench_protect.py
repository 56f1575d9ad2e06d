"""Cost of protection: manifest check and decrypt+load, as fractions of a plain load.

For the cifar10-edge student (simple_cnn, width 0.625, 32x32) and a ResNet50
(``weights=none``, 64x64 input; ~25 MB as a dynamic-range TFLite file, ~94 MB in
fp32), each artifact is exported plain and encrypted, then:

- plain load: ``load_predictor(path, verify_hash=False)``
- manifest check: ``check_artifact(path)`` (SHA-256 of the file against manifest.json)
- decrypt + load: ``load_predictor(path.enc, key=..., verify_hash=False)``

Each figure is the best of ``--repeats`` runs (the machine is shared). The
overhead column is (decrypt + load - plain load) / plain load.

    python benchmarks/bench_protect.py [--repeats 5] [--models student,resnet50]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def build(name: str):
    from kerasvision.backend import keras
    from kerasvision.models import create_model

    keras.utils.set_random_seed(0)
    if name == "student":
        return create_model("simple_cnn", num_classes=10, input_shape=(32, 32, 3), width=0.625)
    return create_model("resnet50", num_classes=10, input_shape=(64, 64, 3), weights="none")


def export_all(model, folder: Path, tflite_precision: str) -> tuple[Path, dict[str, Path]]:
    from kerasvision.artifacts import ModelInfo
    from kerasvision.export.format import ExportJob
    from kerasvision.export.registry import FORMATS
    from kerasvision.models.saving import save_model

    source = save_model(model, folder / "model.keras")
    info = ModelInfo(labels=[str(i) for i in range(10)], input_shape=list(model.input_shape[1:]))
    paths = {}
    for name in ("tflite", "onnx", "saved_model"):
        precision = tflite_precision if name == "tflite" else "fp32"
        fmt = FORMATS[name]
        paths[name] = fmt.export(
            model, fmt.path(folder, "model", precision), ExportJob(precision, info)
        )
    return source, paths


def best(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, repeats: int) -> list[tuple]:
    from kerasvision.artifact import load_predictor
    from kerasvision.protect.encryption import generate_key
    from kerasvision.protect.exporting import finish_export
    from kerasvision.protect.manifest import check_artifact, disk_size

    root = Path(tempfile.mkdtemp(prefix="kv-bench-protect-"))
    try:
        plain, enc = root / "plain", root / "enc"
        plain.mkdir()
        source, paths = export_all(build(name), plain, "fp32" if name == "student" else "dynamic")
        finish_export(plain, list(paths.values()), source)
        key = generate_key(root / "k.aes")
        shutil.copytree(plain, enc)
        encrypted = finish_export(enc, [enc / p.name for p in paths.values()], source, encrypt=key)
        rows = []
        for path, enc_path in zip(paths.values(), encrypted, strict=True):
            load = best(lambda p=path: load_predictor(p, verify_hash=False), repeats)
            check = best(lambda p=path: check_artifact(p), repeats)
            opened = best(lambda p=enc_path: load_predictor(p, key=key, verify_hash=False), repeats)
            rows.append((name, path.name, disk_size(path) / 1e6, load, check, opened))
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default="student,resnet50")
    args = parser.parse_args()
    print(
        f"{'model':9} {'artifact':22} {'MB':>7} {'load ms':>9} {'check ms':>9} {'check %':>8} "
        f"{'dec+load ms':>11} {'overhead %':>10}"
    )
    for name in args.models.split(","):
        for model, file, size, load, check, opened in measure(name, args.repeats):
            overhead = 100 * (opened - load) / load
            print(
                f"{model:9} {file:22} {size:7.2f} {1e3 * load:9.2f} {1e3 * check:9.2f} "
                f"{100 * check / load:8.1f} {1e3 * opened:11.2f} {overhead:10.1f}"
            )


if __name__ == "__main__":
    main()
