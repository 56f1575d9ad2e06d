"""What ``export_model`` does last: encrypt the artifacts, write and sign the manifest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from kerasvision.artifact import read_info
from kerasvision.artifacts import sidecar_path
from kerasvision.errors import KVError
from kerasvision.protect.encryption import encrypt_artifact, key_id, read_key
from kerasvision.protect.manifest import Entry, file_sha256, make_entry, write_manifest
from kerasvision.protect.signing import load_private_key, sign_manifest, signature_path

log = logging.getLogger(__name__)


def check_protect_options(sign: str | Path | None, encrypt: str | Path | None) -> None:
    """Fails fast (before any export work) on an unreadable signing or AES key file."""
    if sign is not None:
        load_private_key(sign)
    if encrypt is not None:
        read_key(encrypt)


def _entries(path: Path, source_sha: str | None, key: bytes | None) -> tuple[Path, list[Entry]]:
    from kerasvision.artifact import artifact_format

    fmt = artifact_format(path)
    info = read_info(path)
    precision = info.precision if info else "fp32"
    entries = []
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        entries.append(make_entry(sidecar, "metadata", precision, source_sha))
    if key is None:
        return path, [make_entry(path, fmt, precision, source_sha), *entries]
    plain_sha = file_sha256(path)
    target = encrypt_artifact(path, key, fmt)
    entry = make_entry(
        target,
        fmt,
        precision,
        source_sha,
        encrypted=True,
        key_id=key_id(key),
        plaintext_sha256=plain_sha,
    )
    return target, [entry, *entries]


def finish_export(
    out: str | Path,
    artifacts: list[Path],
    source: Path,
    *,
    sign: str | Path | None = None,
    encrypt: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Encrypts the artifacts (when asked), writes ``out/manifest.json`` and signs it.

    Args:
        out: The export folder.
        artifacts: The files and folders written by this export.
        source: The Keras model they came from.
        sign: Ed25519 private key file to sign the manifest with. Defaults to
            None (unsigned; an older ``manifest.json.sig`` is removed, as it no
            longer matches).
        encrypt: AES-256 key file; each artifact is replaced by its ``.enc``
            file. Defaults to None.
        progress: Called with a line of text per step. Defaults to None.

    Returns:
        The artifacts as they are now on disk (the ``.enc`` files when encrypted).
    """
    say = progress or log.info
    check_protect_options(sign, encrypt)
    if not artifacts:
        return []
    key = read_key(encrypt) if encrypt is not None else None
    source_sha = file_sha256(source) if source.exists() else None
    final, entries = [], []
    for path in artifacts:
        if key is not None:
            say(f"encrypting {path.name} -> {path.name}.enc (AES-256-GCM, key {key_id(key)})")
        try:
            target, rows = _entries(Path(path), source_sha, key)
        except OSError as error:
            raise KVError(f"cannot protect {path}: {error}") from error
        final.append(target)
        entries += rows
    manifest = write_manifest(out, entries, source=source, source_sha256=source_sha)
    say(f"wrote {manifest} ({len(entries)} file(s) with their sha256)")
    if sign is not None:
        say(f"signed it: {sign_manifest(manifest, sign)}")
    elif signature_path(manifest).is_file():
        signature_path(manifest).unlink()
        say(f"removed {signature_path(manifest).name}: it signed the manifest before this export")
    return final
