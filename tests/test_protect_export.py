"""kv export --sign --encrypt: a signed manifest of .enc files that eval and benchmark run."""

from __future__ import annotations

import json
import shutil

import pytest
from protect_artifacts import kv

from kerasvision.protect.manifest import read_manifest


@pytest.fixture(scope="module")
def protected(digits_run, tmp_path_factory):
    """A copy of the digits run exported to fp32 tflite and onnx, encrypted and signed."""
    root = tmp_path_factory.mktemp("protected")
    run = shutil.copytree(digits_run, root / "run", ignore=shutil.ignore_patterns("export"))
    assert kv("keygen", root / "release") == 0
    assert kv("keygen", "--aes", root / "model.aeskey") == 0
    args = ["export", run, "-f", "tflite,onnx", "-p", "fp32", "--images", "100", "--threads", "1"]
    code = kv(*args, "--sign", root / "release.key", "--encrypt", root / "model.aeskey")
    assert code == 0
    return root, run / "export"


def test_export_writes_only_enc_files_a_manifest_and_a_signature(protected):
    _, export = protected
    names = {p.name for p in export.iterdir()}
    assert names == {
        "model-fp32.tflite.enc",
        "model-fp32.onnx.enc",
        "manifest.json",
        "manifest.json.sig",
        "verification.json",
        # DeepStream's nvinfer configs hold no weights: they stay readable beside the .enc
        "model-fp32.onnx.deepstream.txt",
        "model-fp32.onnx.deepstream-labels.txt",
    }
    rows = json.loads((export / "verification.json").read_text())["artifacts"]
    plain = {r["file"]: r["plaintext_sha256"] for r in read_manifest(export)["artifacts"]}
    for row in rows:  # the verified plaintext's hash is the one the manifest records
        assert row["sha256"] == plain[row["path"].rsplit("/", 1)[-1] + ".enc"]


def test_the_signed_encrypted_export_verifies(protected, capsys):
    root, export = protected
    assert kv("verify", export, "--public-key", root / "release.pub") == 0
    out = capsys.readouterr().out
    assert out.count("ok  ") == 2 and "signature ok" in out


def test_kv_eval_and_benchmark_run_the_enc_files_with_the_key(protected, capsys):
    root, export = protected
    key = root / "model.aeskey"
    assert kv("eval", export / "model-fp32.tflite.enc", "--key", key, "--json", "-o", "") == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.5
    assert kv("benchmark", export.parent, "--no-export", "--key", key, "--json") == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["path"].rsplit("/", 1)[-1] for r in rows} >= {
        "model-fp32.tflite.enc",
        "model-fp32.onnx.enc",
    }


def test_a_bad_key_file_fails_export_before_any_work(digits_run, tmp_path, capsys):
    bad = tmp_path / "bad.aeskey"
    bad.write_text("1234")
    assert kv("export", digits_run, "--encrypt", bad, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an AES-256 key" in err
    assert not (tmp_path / "out").exists()
