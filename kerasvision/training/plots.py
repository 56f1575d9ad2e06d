"""Training-curve plots (PNG) from ``history.csv`` rows."""

from __future__ import annotations

from pathlib import Path

from kerasvision.fileio import atomic_path


def plot_history(rows: list[dict], path: Path, title: str = "") -> Path | None:
    """Plots loss and accuracy per epoch, train and validation, to a PNG.

    Args:
        rows: History rows (``read_history``).
        path: The PNG to write (atomically).
        title: Figure title. Defaults to "".

    Returns:
        ``path``, or None when there is nothing to plot.
    """
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [r.get(prefix + metric) for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
