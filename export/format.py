"""What a format is: its registry entry, the job every exporter takes, and its checks.

Every format module (``tflite.py``, ``onnx.py``, ...) defines one ``FORMAT``;
``registry.py`` collects them. An exporter has ONE signature for all formats::

    export(model, path: Path, job: ExportJob) -> Path

and a deployment check is ``Check(name, run)`` with ``run(path, context) ->
CheckResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasvision.artifacts import ModelInfo
from kerasvision.export.options import ExportOptions

OK, FAILED, UNAVAILABLE = "ok", "failed", "unavailable"


def first_line(error: BaseException | str) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True)
class ModelTraits:
    """What the exporters need to know about the Keras model besides its weights.

    Attributes:
        quantized: A QAT/PQAT model (tfmot fake-quant layers).
        channels: Input channels.
    """

    quantized: bool = False
    channels: int = 3


@dataclass(frozen=True)
class ExportJob:
    """Everything an exporter reads besides the model and the path.

    Attributes:
        precision: The precision to write.
        info: The metadata to embed (labels, input shape, ...).
        options: The export options.
        calibration: Raw-pixel training images for int8, or None.
        traits: Facts about the model (QAT, channels).
        sources: Artifacts already written at this precision, by format
            (an engine is built from ``sources["onnx"]``).
    """

    precision: str
    info: ModelInfo
    options: ExportOptions = field(default_factory=ExportOptions)
    calibration: np.ndarray | None = None
    traits: ModelTraits = field(default_factory=ModelTraits)
    sources: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """One stack's verdict on one file.

    Attributes:
        name: The stack ("LiteRT", "polygraphy lint", ...).
        status: ``ok`` (ran and agreed), ``failed`` (with the message) or
            ``unavailable`` (not installed here, with the reason).
        message: What it said.
        agreement: Fraction of images whose top-1 equals the reference's,
            for a stack that classified them. Defaults to None.
    """

    name: str
    status: str
    message: str = ""
    agreement: float | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.agreement is not None:
            out["agreement"] = round(self.agreement, 6)
        return out


@dataclass
class CheckContext:
    """What a deployment check may compare against.

    Attributes:
        info: The artifact's metadata.
        precision: Its precision.
        images: Held-out raw-pixel images ``(N, H, W, C)``.
        reference: The Keras model's probabilities for ``images``.
        probs: The artifact's own runtime's probabilities for ``images``.
        options: The export options.
    """

    info: ModelInfo
    precision: str
    images: np.ndarray
    reference: np.ndarray
    probs: np.ndarray
    options: ExportOptions = field(default_factory=ExportOptions)


@dataclass(frozen=True)
class Check:
    """A deployment check: a stack that must accept the file.

    Attributes:
        name: The stack's name, as shown in the table.
        run: ``run(path, context) -> CheckResult``.
    """

    name: str
    run: Callable[[Path, CheckContext], CheckResult]


def _no_reason(*_: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Format:
    """One format's registry entry: everything kerasvision knows about it.

    Attributes:
        name: The ``--format`` value.
        suffixes: File suffixes it is recognized by; the first is written
            ("" for a folder).
        precisions: The precisions it takes, in export order.
        options: ``ExportOptions`` fields it reads, each with the precisions
            it applies to (what option validation reads).
        runtime: The runtime that verifies it (the first check's name).
        predictor: ``predictor(path, info, threads) -> Predictor``.
        read_info: ``read_info(path) -> ModelInfo | None`` (the embedded metadata).
        export: ``export(model, path, job) -> path``; None for a format that is
            only read (Keras).
        checks: Deployment checks run on every file after verification.
        companions: ``write(path, job) -> [paths]`` run after a file passed
            (e.g. the DeepStream config).
        after: A format it is built from (exports are chained), or None.
        missing: ``missing() -> reason | None``: why it cannot be built here.
        refuse: ``refuse(precision, traits, options) -> reason | None``: why a
            precision cannot be made for this model, checked before any work.
        matches: ``matches(path) -> bool`` for folders (SavedModel).
        needs_info: Whether loading it needs embedded metadata.
    """

    name: str
    suffixes: tuple[str, ...]
    precisions: tuple[str, ...]
    runtime: str
    predictor: Callable[..., Any]
    read_info: Callable[[Path], ModelInfo | None]
    export: Callable[[Any, Path, ExportJob], Path] | None = None
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    companions: tuple[Callable[[Path, ExportJob], list[Path]], ...] = ()
    after: str | None = None
    missing: Callable[[], str | None] = _no_reason
    refuse: Callable[[str, ModelTraits, ExportOptions], str | None] = _no_reason
    matches: Callable[[Path], bool] | None = None
    needs_info: bool = True

    def path(self, out: Path, stem: str, precision: str) -> Path:
        """Where this format's file of ``<stem>.keras`` at ``precision`` goes in ``out``."""
        if self.matches is not None:  # a folder, one per model
            return out / f"{stem}_{self.name}"
        return out / f"{stem}-{precision}{self.suffixes[0]}"

    def recognizes(self, path: Path) -> bool:
        """Whether ``path`` is a file (or folder) of this format."""
        if self.matches is not None:
            return self.matches(path)
        return not path.is_dir() and path.suffix in self.suffixes
