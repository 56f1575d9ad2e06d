"""``kv keygen``: an Ed25519 key pair to sign releases, or an AES-256 key to encrypt them."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("out", metavar="OUT", type=click.Path(path_type=Path))
@click.option(
    "--aes", is_flag=True, help="Write an AES-256 key file OUT (for --encrypt / --key) instead."
)
@click.option("--force", is_flag=True, help="Replace existing key files.")
def keygen(out: Path, aes: bool, force: bool) -> None:
    """Write a signing key pair OUT.key (mode 0600) and OUT.pub, or with --aes an AES key OUT.

    \b
    Examples:
      kv keygen release                 # release.key (secret), release.pub
      kv export runs/x --sign release.key
      kv verify runs/x/export --public-key release.pub
      kv keygen --aes model.aeskey      # 64 hex digits, mode 0600
      kv export runs/x --encrypt model.aeskey
      kv eval runs/x/export/model-fp32.tflite.enc --key model.aeskey
    """
    from kerasvision.protect.encryption import generate_key, key_id, read_key
    from kerasvision.protect.signing import generate_keypair, load_public_key, public_key_id

    if aes:
        path = generate_key(out, force=force)
        click.echo(f"wrote {path} (AES-256, mode 0600, key id {key_id(read_key(path))})")
        return
    private, public = generate_keypair(out, force=force)
    ident = public_key_id(load_public_key(public))
    click.echo(f"wrote {private} (secret, mode 0600) and {public} (key id {ident})")
