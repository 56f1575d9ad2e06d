"""``export/manifest.json``: what every exported file's bytes were, and checks against it.

Each entry names one file (or SavedModel folder) of the export folder, its
format, precision, size and SHA-256, the kerasvision version that wrote it and
the SHA-256 of the Keras model it came from. A folder's hash is the SHA-256 of
its listing, one ``<sha256 of file>  <relative path>`` line per file in path
order (what ``sha256sum`` prints for the files, hashed once more).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from kerasvision import __version__
from kerasvision.errors import KVError
from kerasvision.fileio import write_json

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, or of a folder's listing (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        lines = "".join(
            f"{file_sha256(p)}  {p.relative_to(path).as_posix()}\n"
            for p in sorted(path.rglob("*"))
            if p.is_file()
        )
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes held in memory."""
    return hashlib.sha256(data).hexdigest()


def disk_size(path: str | Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


@dataclass
class Entry:
    """One file of a manifest.

    Attributes:
        file: Its name, relative to the manifest's folder.
        format: ``tflite``, ``onnx``, ``saved_model``, ``engine``, ``keras`` or
            ``metadata`` (an engine's sidecar JSON).
        precision: ``fp32``, ``fp16``, ``dynamic`` or ``int8``.
        size: Bytes on disk.
        sha256: Hex SHA-256 of the bytes on disk.
        source_sha256: SHA-256 of the Keras model it was exported from.
        kerasvision: The version that wrote it.
        encrypted: Whether the file is an AES-256-GCM ``.enc`` file.
        key_id: The id of the key it is encrypted with (encrypted files).
        plaintext_sha256: SHA-256 of the decrypted bytes (encrypted files).
    """

    file: str
    format: str
    precision: str
    size: int
    sha256: str
    source_sha256: str | None = None
    kerasvision: str = __version__
    encrypted: bool = False
    key_id: str | None = None
    plaintext_sha256: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def make_entry(path: Path, fmt: str, precision: str, source_sha256: str | None, **extra) -> Entry:
    """The manifest entry of a file as it is on disk now."""
    return Entry(
        file=path.name,
        format=fmt,
        precision=precision,
        size=disk_size(path),
        sha256=file_sha256(path),
        source_sha256=source_sha256,
        **extra,
    )


def read_manifest(path: str | Path) -> dict:
    """The manifest at ``path`` (a ``manifest.json`` or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise KVError(f"{path} does not exist; kv export writes it beside the artifacts")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["artifacts"] = [dict(e) for e in data["artifacts"]]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
        raise KVError(f"{path} is not a kerasvision manifest: {error}") from None
    return data


def write_manifest(
    folder: str | Path, entries: list[Entry], *, source: Path | None, source_sha256: str | None
) -> Path:
    """Writes ``folder/manifest.json``, keeping earlier entries whose files still exist.

    Args:
        folder: The export folder.
        entries: The files written now; they replace entries of the same name.
        source: The Keras model exported. Defaults to none; required.
        source_sha256: Its SHA-256. Defaults to none; required.

    Returns:
        The manifest's path.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    rows: dict[str, dict] = {}
    if path.is_file():
        try:
            old = read_manifest(path)["artifacts"]
            rows = {e["file"]: e for e in old if (folder / e["file"]).exists()}
        except (KVError, KeyError):
            log.warning("replacing %s, which could not be read", path)
    rows |= {e.file: e.to_dict() for e in entries}
    write_json(
        path,
        {
            "kerasvision": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": source.name if source else None,
            "source_sha256": source_sha256,
            "hash": "sha256",
            "artifacts": sorted(rows.values(), key=lambda e: e["file"]),
        },
    )
    return path


def mismatch(entry: dict, folder: Path, actual: str | None = None) -> str | None:
    """Why the file of ``entry`` under ``folder`` differs from it, or None when it matches.

    ``actual`` is the file's SHA-256 when the caller has it already.
    """
    path = folder / entry["file"]
    if not path.exists():
        return f"{entry['file']} is missing"
    actual = actual or file_sha256(path)
    if actual != entry.get("sha256"):
        size = disk_size(path)
        sizes = (
            f", {size} bytes instead of {entry.get('size')}" if size != entry.get("size") else ""
        )
        return f"{entry['file']}: sha256 {actual}, the manifest says {entry.get('sha256')}{sizes}"
    return None


def check_artifact(path: str | Path, sha256: str | None = None) -> bool:
    """Checks an artifact (and its sidecar) against the ``manifest.json`` beside it.

    Args:
        path: An artifact file or SavedModel folder.
        sha256: The artifact's SHA-256 when already computed (from bytes read
            for decryption). Defaults to None (hash the file).

    Returns:
        True when a manifest lists the artifact and it matches; False when
        there is no manifest beside it or the manifest does not list it.

    Raises:
        KVError: When the bytes differ from the manifest, naming the file and
            both hashes.
    """
    path = Path(path)
    folder = path.parent
    if not (folder / MANIFEST_NAME).is_file():
        return False
    entries = {e["file"]: e for e in read_manifest(folder)["artifacts"]}
    if path.name not in entries:
        log.warning("%s is not listed in %s; its hash is not checked", path.name, folder)
        return False
    sidecars = [f"{path.name}.json"] + ([f"{path.stem}.json"] if path.suffix == ".enc" else [])
    for name in (path.name, *sidecars):
        known = sha256 if name == path.name else None
        if name in entries and (problem := mismatch(entries[name], folder, known)):
            raise KVError(
                f"{problem}: it changed since export; "
                "kv verify checks the folder, --no-verify-hash loads it anyway"
            )
    return True


def check_manifest(path: str | Path) -> list[tuple[str, str | None]]:
    """Checks every file of a manifest.

    Args:
        path: A ``manifest.json`` or the folder holding one.

    Returns:
        ``(file, problem or None)`` for each entry, in manifest order.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    entries = read_manifest(path)["artifacts"]
    if not entries:
        raise KVError(f"{folder / MANIFEST_NAME} lists no files")
    return [(e["file"], mismatch(e, folder)) for e in entries]
