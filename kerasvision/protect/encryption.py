"""AES-256-GCM encryption of artifacts at rest (``<file>.enc``), decrypted in memory only.

Layout of a ``.enc`` file::

    b"KVENC" 0x01 | header length (4 bytes, big-endian) | header (UTF-8 JSON)
    | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)

The header names the format (``tflite``, ``onnx``, ``saved_model``,
``engine``, ``keras``), the original file name, the container (``file``, or
``tar`` for a SavedModel folder packed as one uncompressed tar archive) and
the key id. Everything before the nonce is authenticated as GCM associated
data, so an edited header fails like an edited ciphertext. The AES
arithmetic is the ``cryptography`` package's.

A key file holds the 32-byte key as 64 hex digits (``kv keygen --aes FILE``,
file mode 0600); ``KV_MODEL_KEY`` may hold the same text instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kerasvision.errors import KVError
from kerasvision.fileio import atomic_path
from kerasvision.protect.signing import write_secret

MAGIC = b"KVENC\x01"
SUFFIX = ".enc"
KEY_ENV = "KV_MODEL_KEY"
CIPHER = "AES-256-GCM"
_NONCE = 12
_TAG = 16
_MAX_HEADER = 1 << 16
_MAX_PLAINTEXT = 2**31 - 1  # the cryptography package's AEAD limit


@dataclass
class Decrypted:
    """An artifact decrypted into memory.

    Attributes:
        format: Its format, from the authenticated header.
        name: The original file or folder name.
        container: ``file``, or ``tar`` for a folder packed as a tar archive.
        data: The plaintext bytes (the tar archive for ``tar``).
    """

    format: str
    name: str
    container: str
    data: bytes


def generate_key(path: str | Path, *, force: bool = False) -> Path:
    """Writes a new random AES-256 key as 64 hex digits, file mode 0600.

    Args:
        path: The key file.
        force: Replace an existing file. Defaults to False.

    Returns:
        ``path``.
    """
    return write_secret(path, (AESGCM.generate_key(256).hex() + "\n").encode(), force=force)


def parse_key(text: str, where: str) -> bytes:
    """The 32 key bytes of a key file's text (64 hex digits)."""
    text = text.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KVError(
            f"{where} is not an AES-256 key (64 hex digits); make one with kv keygen --aes"
        )
    return key


def read_key(path: str | Path) -> bytes:
    """The AES-256 key in a key file."""
    path = Path(path)
    if not path.is_file():
        raise KVError(f"key file {path} does not exist")
    try:
        return parse_key(path.read_text(encoding="ascii"), str(path))
    except UnicodeDecodeError:
        raise KVError(f"{path} is not an AES-256 key (64 hex digits)") from None


def resolve_key(key: str | Path | bytes | None = None) -> bytes | None:
    """The key to decrypt with: ``key`` (a key file or the 32 bytes), else ``KV_MODEL_KEY``."""
    if isinstance(key, bytes):
        if len(key) != 32:
            raise KVError(f"an AES-256 key is 32 bytes, got {len(key)}")
        return key
    if key is not None:
        return read_key(key)
    if os.environ.get(KEY_ENV):
        return parse_key(os.environ[KEY_ENV], KEY_ENV)
    return None


def key_id(key: bytes) -> str:
    """16 hex digits naming a key without revealing it (a SHA-256 of it)."""
    return hashlib.sha256(b"kerasvision key id\0" + key).hexdigest()[:16]


def encrypted_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.enc``; ``model_saved_model`` -> ``model_saved_model.enc``."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def pack_folder(folder: Path) -> bytes:
    """A folder as an uncompressed tar archive in memory (names relative to the folder)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack_folder(data: bytes, folder: Path) -> None:
    """Extracts a tar archive from memory into ``folder``, refusing links and paths outside."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise KVError(f"the decrypted archive cannot be unpacked: {error}") from None


def encrypt_bytes(data: bytes, key: bytes, *, fmt: str, name: str, container: str) -> bytes:
    """The ``.enc`` bytes of ``data`` (layout in the module docstring)."""
    if len(data) > _MAX_PLAINTEXT:
        raise KVError(f"{name} is {len(data)} bytes; AES-GCM here encrypts at most 2 GiB")
    header = json.dumps(
        {
            "format": fmt,
            "name": name,
            "container": container,
            "key_id": key_id(key),
            "cipher": CIPHER,
        }
    ).encode("utf-8")
    prefix = MAGIC + struct.pack(">I", len(header)) + header
    nonce = os.urandom(_NONCE)
    return prefix + nonce + AESGCM(key).encrypt(nonce, data, prefix)


def encrypt_artifact(path: str | Path, key: bytes, fmt: str, *, remove_plain: bool = True) -> Path:
    """Writes ``<path>.enc`` for a file or SavedModel folder.

    Args:
        path: The artifact.
        key: The 32-byte AES key.
        fmt: Its format (stored in the header).
        remove_plain: Delete the plaintext artifact once the ``.enc`` file is
            written. Defaults to True.

    Returns:
        The ``.enc`` file.
    """
    path = Path(path)
    container = "tar" if path.is_dir() else "file"
    data = pack_folder(path) if path.is_dir() else path.read_bytes()
    blob = encrypt_bytes(data, key, fmt=fmt, name=path.name, container=container)
    target = encrypted_path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(blob)
    if remove_plain:
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink()
    return target


def read_header(blob: bytes, where: str) -> tuple[dict, int]:
    """``(header, offset of the nonce)`` of ``.enc`` bytes."""
    start = len(MAGIC) + 4
    if not blob.startswith(MAGIC) or len(blob) < start:
        raise KVError(f"{where} is not a kerasvision encrypted artifact (no {MAGIC[:5].decode()})")
    (size,) = struct.unpack(">I", blob[len(MAGIC) : start])
    if size > _MAX_HEADER or len(blob) < start + size:
        raise KVError(f"{where} is truncated or damaged: its header is cut off")
    try:
        header = json.loads(blob[start : start + size])
        header["format"], header["name"], header["container"]
    except (ValueError, KeyError, TypeError):
        raise KVError(f"{where} is damaged: its header is not readable") from None
    return header, start + size


def decrypt_bytes(blob: bytes, key: bytes, where: str) -> Decrypted:
    """Decrypts ``.enc`` bytes in memory; every failure is one ``KVError`` line.

    Args:
        blob: The ``.enc`` file's bytes.
        key: The 32-byte AES key.
        where: The file's name, for messages.

    Returns:
        The ``Decrypted`` artifact.
    """
    header, offset = read_header(blob, where)
    if len(blob) < offset + _NONCE + _TAG:
        raise KVError(f"{where} is truncated: it ends before its nonce and tag")
    if header.get("key_id") and header["key_id"] != key_id(key):
        raise KVError(
            f"{where} was encrypted with key {header['key_id']}, the key given is {key_id(key)}"
        )
    nonce = blob[offset : offset + _NONCE]
    try:
        data = AESGCM(key).decrypt(nonce, blob[offset + _NONCE :], blob[:offset])
    except InvalidTag:
        raise KVError(
            f"{where} fails AES-GCM authentication: the file was changed or truncated "
            "(or the key is wrong)"
        ) from None
    return Decrypted(header["format"], header["name"], header["container"], data)


def decrypt_file(path: str | Path, key: bytes | None, blob: bytes | None = None) -> Decrypted:
    """Decrypts a ``.enc`` file in memory (no plaintext is written).

    Args:
        path: The ``.enc`` file.
        key: The 32-byte key; None fails with what to pass.
        blob: The file's bytes when already read. Defaults to None (read them).

    Returns:
        The ``Decrypted`` artifact.
    """
    path = Path(path)
    if key is None:
        raise KVError(f"{path.name} is encrypted: pass --key KEYFILE or set {KEY_ENV}")
    return decrypt_bytes(path.read_bytes() if blob is None else blob, key, path.name)


def encrypted_format(path: str | Path) -> str:
    """The format named in a ``.enc`` file's header (read without the key)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(len(MAGIC) + 4 + _MAX_HEADER)
    return read_header(head, path.name)[0]["format"]
