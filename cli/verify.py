"""``kv verify``: every file of an export against its manifest (and its signature)."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _targets(path: Path) -> tuple[Path, str | None]:
    """``(manifest file, artifact name or None)`` of an export folder, manifest or artifact."""
    from kerasvision.errors import KVError
    from kerasvision.protect.manifest import MANIFEST_NAME

    if not path.exists():
        raise KVError(f"{path} does not exist")
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        return path / MANIFEST_NAME, None
    if path.name == MANIFEST_NAME:
        return path, None
    if (path.parent / MANIFEST_NAME).is_file():
        return path.parent / MANIFEST_NAME, path.name
    raise KVError(f"no {MANIFEST_NAME} in or beside {path}; kv export writes one")


@click.command()
@click.argument("path", metavar="PATH|EXPORT_DIR", type=click.Path(path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(path_type=Path),
    help="Ed25519 public key (kv keygen's PREFIX.pub): check manifest.json.sig as well.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
def verify(path: Path, public_key: Path | None, as_json: bool) -> None:
    """Check the files of an export folder (or one artifact) against manifest.json.

    Each file's SHA-256 is compared with the manifest's; with --public-key the
    manifest's Ed25519 signature is checked too. Exits 1 on any mismatch, a
    missing file or a bad signature, so a deployment pipeline can gate on it.

    \b
    Examples:
      kv verify runs/digits-edge/export
      kv verify runs/digits-edge/export --public-key release.pub
      kv verify runs/digits-edge/export/model-int8.tflite
    """
    from kerasvision.errors import KVError
    from kerasvision.protect.manifest import check_manifest
    from kerasvision.protect.signing import signature_path, verify_signature

    manifest, only = _targets(path)
    signer = verify_signature(manifest, public_key) if public_key is not None else None
    results = check_manifest(manifest)
    if only is not None:
        results = [(name, problem) for name, problem in results if name == only]
        if not results:
            raise KVError(f"{only} is not listed in {manifest}")
    bad = [(name, problem) for name, problem in results if problem]
    if as_json:
        rows = [{"file": n, "ok": p is None, "problem": p} for n, p in results]
        click.echo(json.dumps({"manifest": str(manifest), "signed_by": signer, "files": rows}))
    else:
        for name, problem in results:
            click.echo(f"{'ok' if problem is None else 'FAILED':6}  {problem or name}")
        if signer:
            click.echo(f"signature ok: {signature_path(manifest).name}, key {signer}")
        elif signature_path(manifest).is_file():
            click.echo("signature not checked: pass --public-key PUB")
    if bad:
        raise KVError(
            f"{len(bad)} of {len(results)} file(s) do not match {manifest}: {bad[0][1]}"
            + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
        )


def protect_options(command):
    """``--key``, ``--no-verify-hash`` (and ``--unsafe``) for commands that load a model."""
    command = click.option(
        "--unsafe",
        is_flag=True,
        help="Load a Keras file even if it holds Lambda layers (Python code): trusted files only.",
    )(command)
    command = click.option(
        "--no-verify-hash",
        "no_verify_hash",
        is_flag=True,
        help="Load the model even if it differs from the manifest.json beside it.",
    )(command)
    return click.option(
        "--key",
        type=click.Path(path_type=Path),
        help="AES key file of an encrypted .enc model (default: $KV_MODEL_KEY).",
    )(command)
