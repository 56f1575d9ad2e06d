"""Untrusted input never runs code nor exhausts memory: Lambda layers, YAML, image bombs, names."""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import make_class_folder, write_image
from protect_artifacts import kv

from kerasvision.artifact import load_predictor
from kerasvision.config import build_config
from kerasvision.data import open_source
from kerasvision.errors import KVError
from kerasvision.images import MAX_PIXELS, read_images

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lambda_models(tmp_path_factory):
    """A model with a Python Lambda layer, saved as .keras and as .h5."""
    from kerasvision.backend import keras

    folder = tmp_path_factory.mktemp("lambda")
    inputs = keras.Input((4, 4, 3))
    doubled = keras.layers.Lambda(lambda x: x * 2.0, name="doubler")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(doubled))
    model = keras.Model(inputs, outputs)
    model.save(folder / "lambda.keras")
    model.save(folder / "lambda.h5")
    return folder


@pytest.mark.parametrize("name", ["lambda.keras", "lambda.h5"])
def test_a_lambda_layer_is_refused_unless_unsafe(lambda_models, name):
    with pytest.raises(KVError, match="doubler.*--unsafe"):
        load_predictor(lambda_models / name)
    predictor = load_predictor(lambda_models / name, unsafe=True)
    assert predictor.predict(np.ones((1, 4, 4, 3))).shape == (1, 2)


def test_kv_predict_refuses_a_lambda_model_in_one_line(lambda_models, tmp_path, capsys):
    image = write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    assert kv("predict", lambda_models / "lambda.h5", image) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "safe mode" in err
    assert kv("predict", lambda_models / "lambda.h5", image, "--unsafe") == 0


def test_a_yaml_config_cannot_build_python_objects(tmp_path):
    marker = tmp_path / "ran"
    config = tmp_path / "evil.yaml"
    config.write_text(f'model: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(KVError, match="is not valid YAML"):
        build_config(str(config))
    assert not marker.exists()


def test_no_source_file_loads_yaml_unsafely():
    sources = [*ROOT.glob("kerasvision/**/*.py"), *ROOT.glob("cli/*.py"), *ROOT.glob("export/*.py")]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for call in ("yaml.load(", "yaml.unsafe_load", "yaml.full_load", "yaml.Loader"):
            assert call not in text, f"{path.name} uses {call}"


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` RGB pixels, with a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [50_000, 7_000])
def test_a_png_claiming_too_many_pixels_is_refused_before_decoding(tmp_path, side):
    assert side * side > MAX_PIXELS
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_claiming(side, side))
    start = time.perf_counter()
    batch = read_images([bomb], (32, 32, 3))
    assert time.perf_counter() - start < 2  # decoding 7000x7000 would take seconds
    assert len(batch.images) == 0
    assert batch.failures[0][0] == bomb and batch.failures[0][1].startswith("refused")


def test_a_100_megapixel_jpeg_is_decoded_downscaled(tmp_path, caplog):
    from PIL import Image

    big = tmp_path / "big.jpg"
    Image.new("RGB", (10_000, 10_000), (200, 30, 30)).save(big, quality=60)
    caplog.set_level("INFO", logger="kerasvision.images")
    batch = read_images([big], (32, 32, 3))
    assert batch.images.shape == (1, 32, 32, 3) and not batch.failures
    assert abs(int(batch.images[0, 16, 16, 0]) - 200) < 10
    assert "is 10000 x 10000 pixels: decoded at 1250 x 1250" in caplog.text


def test_kv_predict_reports_a_bomb_and_classifies_the_rest(tmp_path, capsys):
    from protect_artifacts import export_plain

    _, paths = export_plain(tmp_path / "export")
    folder = tmp_path / "images"
    write_image(folder / "ok.png", np.zeros((12, 12, 3), np.uint8))
    (folder / "bomb.png").write_bytes(_png_header_claiming(50_000, 50_000))
    assert kv("predict", paths["tflite"], folder, "--json") == 1
    captured = capsys.readouterr()
    rows = {Path(r["image"]).name: r for r in json.loads(captured.out)}
    assert "predictions" in rows["ok.png"] and "refused" in rows["bomb.png"]["error"]
    assert captured.err.count("\n") == 1 and "bomb.png" in captured.err


def test_a_folder_with_a_bomb_and_a_non_utf8_name_trains(tmp_path, caplog):
    root = make_class_folder(tmp_path / "images", per_class=6, size=12)
    weird = os.fsencode(root / "cats") + b"/caf\xe9-\xff.png"  # Latin-1 bytes: not UTF-8
    with open(weird, "wb") as fh:
        fh.write((root / "cats" / "1.png").read_bytes())
    (root / "dogs" / "bomb.png").write_bytes(_png_header_claiming(50_000, 50_000))
    source = open_source(str(root))
    assert sum(source.counts.values()) == 13 and source.skipped == 1
    out = tmp_path / "run"
    args = ["train", "-d", root, "-m", "tiny_cnn", "-e", "1", "--image-size", "12"]
    assert kv(*args, "-b", "8", "--no-augment", "-o", out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["skipped_files"] == 1
    assert "skipped 1 file(s) that are not images or claim more than 40 megapixels" in caplog.text
    assert "bomb.png" in caplog.text
