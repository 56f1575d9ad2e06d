"""Ed25519 signatures of ``manifest.json`` (the ``cryptography`` package does the maths).

``kv keygen PREFIX`` writes ``PREFIX.key`` (PKCS#8 PEM, file mode 0600) and
``PREFIX.pub`` (SubjectPublicKeyInfo PEM). ``kv export --sign PREFIX.key``
signs the exact bytes of ``manifest.json`` into ``manifest.json.sig``, a small
JSON document with the algorithm, the signer's key id and the base64
signature; ``kv verify --public-key PREFIX.pub`` checks it. As the manifest
holds every file's SHA-256, a valid signature covers every file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kerasvision.errors import KVError
from kerasvision.fileio import atomic_path, write_json

SIGNATURE_SUFFIX = ".sig"
ALGORITHM = "Ed25519"


def write_secret(path: str | Path, data: bytes, *, force: bool = False) -> Path:
    """Writes a secret atomically with file mode 0600; refuses to overwrite unless ``force``.

    Args:
        path: The file to write.
        data: Its bytes.
        force: Replace an existing file. Defaults to False.

    Returns:
        ``path``.
    """
    path = Path(path)
    if path.exists() and not force:
        raise KVError(f"{path} already exists; pass --force to replace it")
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
    return path


def public_key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(prefix: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """Writes a new Ed25519 key pair: ``PREFIX.key`` (mode 0600) and ``PREFIX.pub``.

    Args:
        prefix: Path of the two files without their suffix.
        force: Replace existing files. Defaults to False.

    Returns:
        ``(private key file, public key file)``.
    """
    private_path = Path(f"{prefix}.key")
    public_path = Path(f"{prefix}.pub")
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise KVError(f"{path} already exists; pass --force to replace it")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_secret(private_path, private_pem, force=True)
    with atomic_path(public_path) as tmp:
        tmp.write_bytes(public_pem)
    return private_path, public_path


def _read(path: str | Path, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise KVError(f"{what} {path} does not exist")
    return path.read_bytes()


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in a PEM file (as ``kv keygen`` writes it)."""
    try:
        key = serialization.load_pem_private_key(_read(path, "private key"), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise KVError(f"{path} is not an Ed25519 private key (PEM); make one with kv keygen")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (``PREFIX.pub`` of ``kv keygen``)."""
    try:
        key = serialization.load_pem_public_key(_read(path, "public key"))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise KVError(f"{path} is not an Ed25519 public key (PEM); kv keygen writes PREFIX.pub")
    return key


def signature_path(manifest: str | Path) -> Path:
    """``manifest.json`` -> ``manifest.json.sig``."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.name + SIGNATURE_SUFFIX)


def sign_manifest(manifest: str | Path, private_key: str | Path) -> Path:
    """Signs the bytes of ``manifest`` into ``manifest.json.sig``.

    Args:
        manifest: The ``manifest.json`` file.
        private_key: The signer's PEM private key file.

    Returns:
        The signature file.
    """
    key = load_private_key(private_key)
    signature = key.sign(Path(manifest).read_bytes())
    path = signature_path(manifest)
    write_json(
        path,
        {
            "algorithm": ALGORITHM,
            "key_id": public_key_id(key.public_key()),
            "signature": base64.b64encode(signature).decode("ascii"),
        },
    )
    return path


def verify_signature(manifest: str | Path, public_key: str | Path) -> str:
    """Checks ``manifest.json.sig`` against ``manifest`` with ``public_key``.

    Args:
        manifest: The ``manifest.json`` file.
        public_key: The signer's PEM public key file.

    Returns:
        The key id of the signer.

    Raises:
        KVError: When the signature is missing, unreadable, made by another
            key, or does not match the manifest's bytes.
    """
    key = load_public_key(public_key)
    path = signature_path(manifest)
    if not path.is_file():
        raise KVError(f"{path} does not exist: the manifest is not signed (kv export --sign KEY)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        signature = base64.b64decode(data["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise KVError(f"{path} is not a kerasvision signature file") from None
    expected = public_key_id(key)
    if data.get("key_id") not in (None, expected):
        raise KVError(
            f"{path.name} was made by key {data.get('key_id')}, not by {Path(public_key).name} "
            f"(key {expected})"
        )
    try:
        key.verify(signature, Path(manifest).read_bytes())
    except InvalidSignature:
        raise KVError(
            f"the signature in {path.name} does not match {Path(manifest).name} "
            f"and key {expected}: the manifest was edited or signed by another key"
        ) from None
    return expected
