"""What every exported artifact carries: labels, input size and preprocessing.

The same JSON document travels inside each format where it can (a zip entry
appended to a ``.tflite`` file, ONNX ``metadata_props``, a file in a
SavedModel's ``assets.extra/``) and beside it as ``<file>.json`` otherwise
(TensorRT engines). ``read_info`` finds it for any artifact; ``run_labels``,
``find_run_dir``, ``final_model`` and ``run_config`` find the run directory an
artifact came from and what it holds.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kerasvision import __version__
from kerasvision.errors import KVError

METADATA_KEY = "kerasvision"
TFLITE_ENTRY = "metadata.json"
SAVED_MODEL_ENTRY = Path("assets.extra") / "kerasvision.json"

PREPROCESSING = (
    "RGB (or grayscale for 1 channel) pixels 0-255, resized to the input size, layout NHWC; "
    "no normalization: it is inside the model"
)


@dataclass
class ModelInfo:
    """Metadata of a model artifact.

    Attributes:
        labels: Class names; index = class id.
        input_shape: ``[height, width, channels]``.
        format: ``keras``, ``saved_model``, ``tflite``, ``onnx`` or ``engine``.
        precision: ``fp32``, ``fp16``, ``dynamic`` or ``int8``.
        model: The architecture's registered name, when known.
        input_dtype: The input tensor's type (``float32``, ``uint8``, ``int8``).
        preprocessing: What a caller must do to an image before the model.
        output: What the output holds.
        kerasvision: The version that wrote the artifact.
        extra: Format-specific facts (TensorRT version, GPU, batch profile, ...).
    """

    labels: list[str]
    input_shape: list[int]
    format: str = "keras"
    precision: str = "fp32"
    model: str | None = None
    input_dtype: str = "float32"
    preprocessing: str = PREPROCESSING
    output: str = "class probabilities (softmax), float32 unless the output type is integer"
    kerasvision: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelInfo:
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes: Any) -> ModelInfo:
        return dataclasses.replace(self, **changes)


def sidecar_path(artifact: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def embed_tflite(path: Path, info: ModelInfo) -> None:
    """Appends ``metadata.json`` and ``labels.txt`` to a ``.tflite`` file as a zip archive.

    This is how TFLite's own metadata tools attach associated files: the file
    stays a valid flatbuffer (the interpreter ignores trailing bytes) and is
    also a zip archive that any zip reader (``java.util.zip.ZipFile``,
    ``unzip -l``) opens. The entries are stored uncompressed, as MediaPipe
    requires. ``kerasvision.export.tflite_metadata.write_metadata`` also writes
    the standard ``TFLITE_METADATA`` that points at them.
    """
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(TFLITE_ENTRY, info.to_json())
        archive.writestr("labels.txt", "".join(f"{label}\n" for label in info.labels))


def _read_tflite(path: Path) -> ModelInfo | None:
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        if TFLITE_ENTRY not in archive.namelist():
            return None
        return ModelInfo.from_json(archive.read(TFLITE_ENTRY))


def _read_onnx(path: Path) -> ModelInfo | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return ModelInfo.from_json(prop.value)
    return None


def read_info(artifact: str | Path) -> ModelInfo | None:
    """The ``ModelInfo`` an artifact carries, or None when it has none.

    Looks inside the file first (tflite zip entry, ONNX metadata, SavedModel
    ``assets.extra``), then at the sidecar ``<file>.json``, then, for a Keras
    file in a run directory, at the run's ``labels.txt``.
    """
    path = Path(artifact)
    if not path.exists():
        raise KVError(f"{path} does not exist")
    info = None
    if path.is_dir() and (path / SAVED_MODEL_ENTRY).is_file():
        info = ModelInfo.from_json((path / SAVED_MODEL_ENTRY).read_text(encoding="utf-8"))
    elif path.suffix == ".tflite":
        info = _read_tflite(path)
    elif path.suffix == ".onnx":
        info = _read_onnx(path)
    if info is None and sidecar_path(path).is_file():
        info = ModelInfo.from_json(sidecar_path(path).read_text(encoding="utf-8"))
    return info


def run_labels(model_file: str | Path) -> list[str] | None:
    """The labels of the run directory a ``.keras`` file sits in (``labels.txt`` beside it)."""
    labels = Path(model_file).parent / "labels.txt"
    if labels.is_file():
        return [line for line in labels.read_text(encoding="utf-8").splitlines() if line]
    return None


def find_run_dir(path: str | Path) -> Path | None:
    """The run directory an artifact belongs to: its folder or, for ``export/``, the parent."""
    path = Path(path).resolve()
    for folder in (path, path.parent, path.parent.parent):
        if (folder / "config.yaml").is_file() and (folder / "labels.txt").is_file():
            return folder
    return None


def final_model(run_dir: str | Path) -> Path:
    """The final model of a run directory (``metrics.json``'s ``final_model``)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise KVError(f"{run_dir} is not a run directory (no config.yaml) nor a model file")
    name = "model.keras"
    if (run_dir / "metrics.json").is_file():
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        name = metrics.get("final_model", name)
    model = run_dir / name
    if not model.is_file():
        raise KVError(f"{run_dir} holds no trained model ({name}); is the run finished?")
    return model


def run_config(run_dir: str | Path):
    """The ``TrainConfig`` of a run (a staged run's top level names its data and split)."""
    from kerasvision.config import config_from_dict

    data = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8")) or {}
    data.pop("stages", None)
    return config_from_dict(data)
