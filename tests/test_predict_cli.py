"""``kv predict``, ``kv eval`` and ``kv explain`` through the command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import write_image

from kerasvision.artifact import load_predictor
from kerasvision.cli.errors import run_cli
from kerasvision.cli.main import cli


def kv(*args: str) -> int:
    return run_cli(cli, [str(a) for a in args])


@pytest.fixture
def digit_files(tmp_path):
    """Four 8x8 digit PNGs in a folder, and their pixels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images[:4] * 255 / 16).astype(np.uint8)[..., None]
    folder = tmp_path / "digits"
    for i, image in enumerate(pixels):
        write_image(folder / f"{i}-label{digits.target[i]}.png", image)
    return folder, pixels


def test_predict_from_an_exported_file_alone(
    digits_run, digits_exports, digit_files, tmp_path, capsys
):
    folder, pixels = digit_files
    alone = shutil.copy(digits_exports["fp32.tflite"], tmp_path / "digits.tflite")
    assert kv("predict", alone, folder, "--top-k", "2", "--json") == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in results] == sorted(str(p) for p in folder.iterdir())
    expected = load_predictor(digits_run / "model.keras").predict(pixels).argmax(axis=1)
    assert [r["predictions"][0]["label"] for r in results] == [str(k) for k in expected]
    assert all(len(r["predictions"]) == 2 for r in results)
    first = results[0]["predictions"]
    assert first[0]["probability"] >= first[1]["probability"]


def test_a_corrupt_image_is_reported_and_the_others_are_predicted(
    digits_exports, digit_files, capsys
):
    folder, _ = digit_files
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert kv("predict", digits_exports["int8.tflite"], folder, "--json") == 1
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert len(results) == 5
    broken = [r for r in results if "error" in r]
    assert [r["image"] for r in broken] == [str(folder / "broken.jpg")]
    assert sum("predictions" in r for r in results) == 4
    assert captured.err.startswith(f"kv: error: cannot read {folder / 'broken.jpg'}: ")
    assert captured.err.count("\n") == 1


def test_predict_prints_a_table_for_people(digits_exports, digit_files, capsys):
    folder, _ = digit_files
    assert kv("predict", digits_exports["fp32.onnx"], folder / "0-label0.png") == 0
    out = capsys.readouterr().out
    assert "0-label0.png" in out and "probability" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "{model}", "/no/such.png"], "/no/such.png does not exist"),
        (["predict", "/no/model.tflite", "{images}"], "/no/model.tflite does not exist"),
        (["predict", "{model}", "{images}", "--top-k", "0"], "--top-k must be at least 1"),
        (["eval", "/no/run"], "/no/run does not exist"),
        (["explain", "{model}", "{images}/0-label0.png"], "Grad-CAM needs a Keras model"),
    ],
)
def test_bad_input_is_one_line(digits_exports, digit_files, capsys, args, message):
    folder, _ = digit_files
    model = digits_exports["fp32.tflite"]
    assert kv(*(a.format(model=model, images=folder) for a in args)) != 0
    err = capsys.readouterr().err
    assert err.startswith("kv: error: ") and err.count("\n") == 1
    assert message in err


def test_eval_json_is_machine_readable(digits_exports, tmp_path, capsys):
    out = tmp_path / "eval"
    assert kv("eval", digits_exports["int8.tflite"], "--json", "--threads", "1", "-o", out) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["format"] == "tflite" and result["precision"] == "int8"
    assert result["images"] == 359 and result["output"] == str(out)
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == result["accuracy"]
    assert (out / "confusion_matrix.png").is_file()


def test_explain_writes_an_overlay_and_names_the_class(digits_run, digit_files, tmp_path, capsys):
    from PIL import Image

    folder, _ = digit_files
    out = tmp_path / "cam.png"
    assert kv("explain", digits_run, folder / "3-label3.png", "--class", "3", "-o", out) == 0
    assert "explained class: 3" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size == (224, 224) and image.mode == "RGB"
