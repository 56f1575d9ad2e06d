"""Ed25519 signatures of manifest.json: kv keygen, kv export --sign, kv verify --public-key."""

from __future__ import annotations

import json
import stat

import pytest
from protect_artifacts import copy_tree, export_plain, kv

from kerasvision.errors import KVError
from kerasvision.protect.exporting import finish_export
from kerasvision.protect.signing import generate_keypair, sign_manifest, verify_signature


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return generate_keypair(folder / "release"), generate_keypair(folder / "other")


@pytest.fixture(scope="module")
def signed_once(tmp_path_factory, keys):
    (private, _), _ = keys
    folder = tmp_path_factory.mktemp("signed") / "export"
    source, paths = export_plain(folder)
    finish_export(folder, list(paths.values()), source, sign=private)
    return folder


@pytest.fixture
def signed(signed_once, tmp_path):
    """A fresh copy of a signed export folder (tflite, onnx, SavedModel)."""
    return copy_tree(signed_once, tmp_path / "export")


def test_keygen_writes_the_private_key_with_mode_0600(tmp_path, capsys):
    assert kv("keygen", tmp_path / "k") == 0
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert (tmp_path / "k.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert "key id" in capsys.readouterr().out


def test_keygen_refuses_to_overwrite_a_key_without_force(tmp_path, capsys):
    assert kv("keygen", tmp_path / "k") == 0
    before = (tmp_path / "k.key").read_bytes()
    assert kv("keygen", tmp_path / "k") == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "k.key").read_bytes() == before
    assert kv("keygen", tmp_path / "k", "--force") == 0
    assert (tmp_path / "k.key").read_bytes() != before


def test_a_signed_manifest_verifies_with_its_public_key(signed, keys, capsys):
    (_, public), _ = keys
    assert verify_signature(signed / "manifest.json", public)
    assert kv("verify", signed, "--public-key", public) == 0
    assert "signature ok" in capsys.readouterr().out


def test_a_signature_by_another_key_fails(signed, keys, capsys):
    (_, public), (other_private, _) = keys
    sign_manifest(signed / "manifest.json", other_private)
    assert kv("verify", signed, "--public-key", public) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was made by key" in err


def test_a_forged_signature_under_the_right_key_id_fails(signed, keys, capsys):
    (_, public), (other_private, _) = keys
    good = json.loads((signed / "manifest.json.sig").read_text())
    sign_manifest(signed / "manifest.json", other_private)
    forged = json.loads((signed / "manifest.json.sig").read_text()) | {"key_id": good["key_id"]}
    (signed / "manifest.json.sig").write_text(json.dumps(forged))
    assert kv("verify", signed, "--public-key", public) == 1
    assert "does not match manifest.json" in capsys.readouterr().err


def test_an_edited_manifest_fails_even_when_the_files_match(signed, keys, capsys):
    (_, public), _ = keys
    manifest = json.loads((signed / "manifest.json").read_text())
    manifest["artifacts"] = manifest["artifacts"][1:]  # drop one entry: every hash still matches
    (signed / "manifest.json").write_text(json.dumps(manifest, indent=2))
    assert kv("verify", signed) == 0
    assert kv("verify", signed, "--public-key", public) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the manifest was edited or signed by another key" in err


def test_an_unsigned_manifest_fails_when_a_public_key_is_given(signed, keys):
    (_, public), _ = keys
    (signed / "manifest.json.sig").unlink()
    with pytest.raises(KVError, match="the manifest is not signed"):
        verify_signature(signed / "manifest.json", public)


def test_an_unsigned_reexport_removes_the_stale_signature(signed):
    finish_export(signed, [signed / "model-fp32.tflite"], signed / "model.keras")
    assert not (signed / "manifest.json.sig").exists()


@pytest.mark.parametrize("which", ["private", "public"])
def test_a_file_that_is_not_a_key_is_one_line(signed, tmp_path, which, capsys):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    if which == "private":
        with pytest.raises(KVError, match="is not an Ed25519 private key"):
            finish_export(signed, [], signed / "model.keras", sign=bad)
    else:
        assert kv("verify", signed, "--public-key", bad) == 1
        assert "is not an Ed25519 public key" in capsys.readouterr().err
