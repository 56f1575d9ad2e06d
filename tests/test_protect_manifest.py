"""export/manifest.json: every artifact's sha256, checked before each load and by kv verify."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_image
from protect_artifacts import (
    FORMATS,
    copy_tree,
    export_plain,
    flip_byte,
    images,
    kv,
    payload_file,
    truncate,
)

from kerasvision import __version__
from kerasvision.artifact import load_predictor
from kerasvision.errors import KVError
from kerasvision.protect.exporting import finish_export
from kerasvision.protect.manifest import check_manifest, file_sha256, read_manifest


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """model.keras exported to tflite, onnx and SavedModel, with its manifest."""
    folder = tmp_path_factory.mktemp("manifest") / "export"
    source, paths = export_plain(folder)
    finish_export(folder, list(paths.values()), source)
    return folder


@pytest.fixture
def damaged(export_dir, tmp_path):
    """A copy of the export folder to damage, and an image to predict."""
    image = write_image(tmp_path / "x.png", images(1)[0].astype(np.uint8))
    return copy_tree(export_dir, tmp_path / "export"), image


NAMES = {
    "tflite": "model-fp32.tflite",
    "onnx": "model-fp32.onnx",
    "saved_model": "model_saved_model",
}


def test_manifest_lists_each_artifact_with_its_hash_size_and_source(export_dir):
    manifest = read_manifest(export_dir)
    rows = {row["file"]: row for row in manifest["artifacts"]}
    assert set(rows) == set(NAMES.values())
    source_sha = file_sha256(export_dir / "model.keras")
    assert manifest["source_sha256"] == source_sha and manifest["kerasvision"] == __version__
    for fmt, name in NAMES.items():
        row = rows[name]
        assert row["format"] == fmt and row["precision"] == "fp32"
        assert row["sha256"] == file_sha256(export_dir / name)
        assert row["source_sha256"] == source_sha
        if fmt != "saved_model":
            assert row["size"] == (export_dir / name).stat().st_size


def test_a_folder_hash_changes_when_any_file_in_it_changes(damaged):
    folder = damaged[0] / NAMES["saved_model"]
    before = file_sha256(folder)
    next(folder.rglob("kerasvision.json")).write_text("{}")
    assert file_sha256(folder) != before


def test_an_untouched_export_loads_and_verifies(export_dir, capsys):
    for name in NAMES.values():
        assert load_predictor(export_dir / name).predict(images(2)).shape == (2, 4)
    assert all(problem is None for _, problem in check_manifest(export_dir))
    assert kv("verify", export_dir) == 0
    assert capsys.readouterr().out.count("ok") == 3


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_damaged_artifact_is_refused_naming_the_file_and_both_hashes(damaged, fmt, damage):
    folder, _ = damaged
    artifact = folder / NAMES[fmt]
    expected = file_sha256(artifact)
    (flip_byte if damage == "flip" else truncate)(payload_file(artifact))
    with pytest.raises(KVError) as error:
        load_predictor(artifact)
    message = str(error.value)
    assert NAMES[fmt] in message and "\n" not in message
    assert expected in message and file_sha256(artifact) in message
    assert "--no-verify-hash" in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_kv_predict_and_kv_verify_exit_1_on_a_flipped_byte(damaged, fmt, capsys):
    folder, image = damaged
    flip_byte(payload_file(folder / NAMES[fmt]))
    assert kv("predict", folder / NAMES[fmt], image) == 1
    err = capsys.readouterr().err
    assert err.startswith("kv: error: ") and err.count("\n") == 1 and NAMES[fmt] in err
    assert kv("verify", folder) == 1
    captured = capsys.readouterr()
    assert f"FAILED  {NAMES[fmt]}: sha256" in captured.out
    assert captured.err.count("\n") == 1 and "1 of 3 file(s) do not match" in captured.err


def test_kv_verify_of_one_artifact_checks_only_that_one(damaged, capsys):
    folder, _ = damaged
    truncate(folder / NAMES["onnx"])
    assert kv("verify", folder / NAMES["tflite"]) == 0
    assert kv("verify", folder / NAMES["onnx"]) == 1
    assert "bytes instead of" in capsys.readouterr().err


def test_a_missing_file_fails_kv_verify(damaged, capsys):
    folder, _ = damaged
    (folder / NAMES["tflite"]).unlink()
    assert kv("verify", folder) == 1
    assert f"{NAMES['tflite']} is missing" in capsys.readouterr().err


def test_no_verify_hash_loads_a_changed_artifact(damaged, capsys):
    folder, image = damaged
    flip_byte(folder / NAMES["onnx"], where=0.7)  # inside the weights: still a valid model
    predictor = load_predictor(folder / NAMES["onnx"], verify_hash=False)
    assert predictor.predict(images(1)).shape == (1, 4)
    assert kv("predict", folder / NAMES["onnx"], image, "--no-verify-hash") == 0


def test_an_artifact_without_a_manifest_loads_as_before(export_dir, tmp_path):
    alone = tmp_path / NAMES["tflite"]
    alone.write_bytes((export_dir / NAMES["tflite"]).read_bytes())
    assert load_predictor(alone).labels == ["ant", "bee", "cat", "dog"]


def test_a_later_export_keeps_the_entries_of_earlier_ones(damaged):
    folder, _ = damaged
    extra = folder / "other-fp32.tflite"
    extra.write_bytes((folder / NAMES["tflite"]).read_bytes())
    finish_export(folder, [extra], folder / "model.keras")
    files = {row["file"] for row in read_manifest(folder)["artifacts"]}
    assert files == {*NAMES.values(), "other-fp32.tflite"}


def test_a_manifest_that_is_not_json_is_one_line(damaged, capsys):
    folder, _ = damaged
    (folder / "manifest.json").write_text("{not json")
    assert kv("verify", folder) == 1
    err = capsys.readouterr().err
    assert "is not a kerasvision manifest" in err and err.count("\n") == 1


def test_verify_without_a_manifest_says_where_it_looked(tmp_path, capsys):
    assert kv("verify", tmp_path) == 1
    assert "no manifest.json in or beside" in capsys.readouterr().err


def test_export_model_writes_the_manifest_and_sha256_in_verification_json(digits_exports):
    folder = next(iter(digits_exports.values())).parent
    rows = json.loads((folder / "verification.json").read_text())["artifacts"]
    listed = {row["file"]: row for row in read_manifest(folder)["artifacts"]}
    for row in rows:
        name = row["path"].rsplit("/", 1)[-1]
        assert row["sha256"] == listed[name]["sha256"] == file_sha256(folder / name)
