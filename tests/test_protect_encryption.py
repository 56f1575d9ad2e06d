"""AES-256-GCM ``.enc`` artifacts: same outputs with the right key, one line otherwise."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_class_folder, write_image
from protect_artifacts import FORMATS, LABELS, copy_tree, export_plain, flip_byte, images, kv

from kerasvision.artifact import artifact_format, load_predictor
from kerasvision.errors import KVError
from kerasvision.protect import loading
from kerasvision.protect.encryption import (
    KEY_ENV,
    MAGIC,
    encrypt_artifact,
    generate_key,
    read_key,
)
from kerasvision.protect.exporting import finish_export
from kerasvision.protect.manifest import read_manifest

ENC = {
    "tflite": "model-fp32.tflite.enc",
    "onnx": "model-fp32.onnx.enc",
    "saved_model": "model_saved_model.enc",
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Plain artifacts with their outputs, and an encrypted copy of the export folder."""
    root = tmp_path_factory.mktemp("enc")
    source, paths = export_plain(root / "plain")
    outputs = {fmt: load_predictor(path).predict(images()) for fmt, path in paths.items()}
    plaintext = {fmt: _plaintext(path) for fmt, path in paths.items()}
    key = generate_key(root / "model.aeskey")
    generate_key(root / "other.aeskey")
    encrypted = copy_tree(root / "plain", root / "encrypted")
    finish_export(encrypted, [encrypted / p.name for p in paths.values()], source, encrypt=key)
    return {"root": root, "dir": encrypted, "key": key, "outputs": outputs, "plain": plaintext}


def _plaintext(path: Path) -> list[bytes]:
    """Every file's bytes of an artifact (a SavedModel's files)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [p.read_bytes() for p in files]


@pytest.fixture
def enc_copy(exported, tmp_path):
    return copy_tree(exported["dir"], tmp_path / "encrypted")


def test_export_replaces_each_artifact_by_its_enc_file(exported):
    names = {p.name for p in exported["dir"].iterdir()}
    assert names == {*ENC.values(), "model.keras", "manifest.json"}
    rows = {row["file"]: row for row in read_manifest(exported["dir"])["artifacts"]}
    assert set(rows) == set(ENC.values())
    assert all(row["encrypted"] and row["key_id"] for row in rows.values())
    for fmt, name in ENC.items():
        blob = (exported["dir"] / name).read_bytes()
        assert blob.startswith(MAGIC) and artifact_format(exported["dir"] / name) == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_encrypted_artifact_gives_the_same_outputs_with_the_right_key(exported, fmt):
    predictor = load_predictor(exported["dir"] / ENC[fmt], key=exported["key"])
    assert predictor.format == fmt and predictor.labels == LABELS
    assert predictor.input_shape == (12, 12, 3)
    np.testing.assert_array_equal(predictor.predict(images()), exported["outputs"][fmt])


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_plaintext_chunk_appears_in_the_enc_file(exported, fmt):
    blob = (exported["dir"] / ENC[fmt]).read_bytes()
    for data in exported["plain"][fmt]:
        if len(data) >= 64:
            middle = len(data) // 2
            assert data[middle : middle + 64] not in blob


def test_a_keras_file_encrypted_by_the_library_loads_in_memory(exported, tmp_path):
    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes((exported["dir"] / "model.keras").read_bytes())
    expected = load_predictor(keras_file).predict(images())
    enc = encrypt_artifact(keras_file, read_key(exported["key"]), "keras")
    assert not keras_file.exists()
    probs = load_predictor(enc, key=exported["key"]).predict(images())
    np.testing.assert_allclose(probs, expected, atol=1e-6)


def test_the_key_can_come_from_kv_model_key(exported, monkeypatch):
    monkeypatch.setenv(KEY_ENV, exported["key"].read_text())
    assert load_predictor(exported["dir"] / ENC["onnx"]).labels == LABELS


def test_after_an_encrypted_run_no_plaintext_is_left_anywhere(exported, enc_copy, monkeypatch):
    temp = exported["root"] / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    shm_before = _scratch_entries()
    seen = []
    unpack = loading.unpack_folder

    def spy(data, folder):
        unpack(data, folder)
        seen.append((folder, any(folder.rglob("saved_model.pb"))))

    monkeypatch.setattr(loading, "unpack_folder", spy)
    for fmt, name in ENC.items():
        probs = load_predictor(enc_copy / name, key=exported["key"]).predict(images())
        np.testing.assert_array_equal(probs, exported["outputs"][fmt])
    assert seen and seen[0][1], "the SavedModel went through a scratch folder"
    assert not seen[0][0].exists() and not seen[0][0].parent.exists()
    assert _scratch_entries() == shm_before
    left = [p for p in temp.rglob("*")] + [
        p for p in enc_copy.rglob("*") if p.name not in {*ENC.values(), "manifest.json"}
    ]
    assert [p.name for p in left] == ["model.keras"]  # the source model, never encrypted
    plain = [chunk for chunks in exported["plain"].values() for chunk in chunks if len(chunk) > 64]
    for path in enc_copy.rglob("*.enc"):
        blob = path.read_bytes()
        assert not any(chunk[:64] in blob for chunk in plain)


def _scratch_entries() -> set[str]:
    root = loading.scratch_root() or tempfile.gettempdir()
    return {p for p in os.listdir(root) if p.startswith(loading.SCRATCH_PREFIX)}


@pytest.fixture
def image(tmp_path):
    return write_image(tmp_path / "x.png", images(1)[0].astype(np.uint8))


CASES = {
    "wrong key": (["--key", "{other}"], "was encrypted with key"),
    "missing key": ([], "is encrypted: pass --key KEYFILE or set KV_MODEL_KEY"),
    "not a key file": (["--key", "{image}"], "is not an AES-256 key"),
    "absent key file": (["--key", "/no/such.key"], "key file /no/such.key does not exist"),
}


@pytest.mark.parametrize("case", CASES)
def test_key_problems_exit_1_with_one_line(exported, image, case, capsys, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    extra, message = CASES[case]
    other = exported["root"] / "other.aeskey"
    args = [a.format(other=other, image=image) for a in extra]
    assert kv("predict", exported["dir"] / ENC["tflite"], image, *args) == 1
    err = capsys.readouterr().err
    assert err.startswith("kv: error: ") and err.count("\n") == 1 and message in err


DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated"),
    "truncated to the header": (lambda p: p.write_bytes(p.read_bytes()[:20]), "truncated"),
    "flipped byte": (flip_byte, "fails AES-GCM authentication"),
    "edited header": (
        lambda p: p.write_bytes(p.read_bytes().replace(b'"name": "m', b'"name": "n', 1)),
        "fails AES-GCM authentication",
    ),
    "not encrypted": (
        lambda p: p.write_bytes(b"PK\x03\x04 plain zip"),
        "not a kerasvision encrypted",
    ),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_enc_file_exits_1_with_one_line(exported, enc_copy, image, fmt, damage, capsys):
    hurt, message = DAMAGE[damage]
    alone = enc_copy / "alone"
    alone.mkdir()
    path = alone / ENC[fmt]  # no manifest beside it: the decryption itself must notice
    path.write_bytes((enc_copy / ENC[fmt]).read_bytes())
    hurt(path)
    assert kv("predict", path, image, "--key", exported["key"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kv: error: ") and err.count("\n") == 1 and message in err


def test_beside_its_manifest_a_damaged_enc_file_fails_the_hash_check_first(exported, enc_copy):
    flip_byte(enc_copy / ENC["onnx"])
    with pytest.raises(KVError, match="sha256"):
        load_predictor(enc_copy / ENC["onnx"], key=exported["key"])
    with pytest.raises(KVError, match="fails AES-GCM authentication"):
        load_predictor(enc_copy / ENC["onnx"], key=exported["key"], verify_hash=False)


def test_kv_eval_runs_an_encrypted_artifact(exported, tmp_path, capsys, monkeypatch):
    data = make_class_folder(tmp_path / "data", classes=LABELS, per_class=3, size=12)
    monkeypatch.setenv(KEY_ENV, exported["key"].read_text())
    model = exported["dir"] / ENC["onnx"]
    assert kv("eval", model, "-d", data, "--split", "all", "--json", "-o", tmp_path / "ev") == 0
    assert '"images": 12' in capsys.readouterr().out


def test_kv_keygen_aes_writes_a_0600_key_file(tmp_path, capsys):
    assert kv("keygen", "--aes", tmp_path / "k.aes") == 0
    assert (tmp_path / "k.aes").stat().st_mode & 0o777 == 0o600
    assert len(read_key(tmp_path / "k.aes")) == 32
    assert "key id" in capsys.readouterr().out


def test_a_malformed_kv_model_key_is_one_line(exported, image, capsys, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "not-hex")
    assert kv("predict", exported["dir"] / ENC["onnx"], image) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "KV_MODEL_KEY is not an AES-256 key" in err
