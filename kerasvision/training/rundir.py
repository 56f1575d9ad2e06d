"""The run directory: one folder that holds everything about a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from kerasvision.config import upgrade_keys
from kerasvision.errors import KVError
from kerasvision.fileio import write_json, write_text, write_yaml


class RunDir:
    """Paths and guarded writes of a run directory (see docs/training.md).

    Args:
        path: The folder.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.yaml")
    labels = property(lambda self: self.path / "labels.txt")
    metrics = property(lambda self: self.path / "metrics.json")
    history = property(lambda self: self.path / "history.csv")
    checkpoints = property(lambda self: self.path / "checkpoints")
    curves = property(lambda self: self.path / "training_curves.png")
    replicas = property(lambda self: self.checkpoints / "replicas.json")

    def model_path(self, stage: str = "model") -> Path:
        return self.path / f"{stage}.keras"

    @property
    def finished(self) -> bool:
        return self.metrics.is_file()

    def check_writable(self, *, overwrite: bool = False, replicas: int | None = None) -> None:
        """Raises KVError when this folder cannot take a run (checked before any work).

        ``replicas`` is the replica count of the run about to start: an
        unfinished run resumes only on as many replicas as it was started on,
        since the global batch, and with it the steps per epoch and the
        learning-rate schedule its backups hold, scale with the count.
        """
        if self.path.exists() and not self.path.is_dir():
            raise KVError(f"--out {self.path} is a file, not a folder")
        is_run = self.config.is_file()
        # A disk cache (cache/) is made while the data is opened, before the run starts.
        contents = (
            [p for p in self.path.iterdir() if p.name != "cache"] if self.path.is_dir() else []
        )
        if contents and not is_run:
            raise KVError(f"--out {self.path} is not empty and holds no run; choose another --out")
        if self.finished and not overwrite:
            raise KVError(
                f"{self.path} already holds a finished run; pass --overwrite or another --out"
            )
        if is_run and not overwrite and replicas is not None and self.replicas.is_file():
            before = json.loads(self.replicas.read_text(encoding="utf-8")).get("replicas")
            if before != replicas:
                raise KVError(
                    f"{self.path} holds an unfinished run trained on {before} replica(s), not "
                    f"{replicas}: resuming would change its global batch and learning-rate "
                    f"schedule; resume on the same devices and workers, or pass --overwrite"
                )

    def record_replicas(self, count: int) -> None:
        """Notes the replica count an unfinished run trains on (see ``check_writable``)."""
        write_json(self.replicas, {"replicas": count})

    def prepare(self, config: dict[str, Any], *, overwrite: bool = False) -> bool:
        """Creates the folder or checks it can be resumed; returns True when resuming.

        A finished run is kept unless ``overwrite``; an unfinished one is resumed
        only with the same config; a folder that is not a run is never touched.
        """
        self.check_writable(overwrite=overwrite)
        is_run = self.config.is_file()
        if is_run and overwrite:
            shutil.rmtree(self.path)
            is_run = False
        if is_run:
            # A run written with the flat keys of earlier versions resumes too.
            old = upgrade_keys(yaml.safe_load(self.config.read_text(encoding="utf-8")) or {})
            changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            if changed:
                raise KVError(
                    f"{self.path} holds an unfinished run with another config "
                    f"(differs in: {', '.join(changed)}); rerun the same command to resume, "
                    f"or pass --overwrite"
                )
            return True
        self.path.mkdir(parents=True, exist_ok=True)
        write_yaml(self.config, config)
        return False

    def write_labels(self, class_names: list[str]) -> None:
        write_text(self.labels, "".join(f"{name}\n" for name in class_names))

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.metrics, metrics)

    def read_metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics.read_text(encoding="utf-8"))
