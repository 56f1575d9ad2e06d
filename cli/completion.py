"""``kv completion SHELL``: prints the shell-completion script."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(kv completion bash)"    (add it to ~/.bashrc)
    zsh:   eval "$(kv completion zsh)"     (add it to ~/.zshrc)
    fish:  kv completion fish > ~/.config/fish/completions/kv.fish
    """
    root = click.get_current_context().find_root().command  # the kv group
    cls = get_completion_class(shell)
    click.echo(cls(root, {}, "kv", "_KV_COMPLETE").source())
