"""What every exported artifact carries: labels, input size and preprocessing.

The same JSON document travels inside each format where it can (a zip entry
appended to a ``.tflite`` file, ONNX ``metadata_props``, a file in a
SavedModel's ``assets.extra/``) and beside it as ``<file>.json`` otherwise
(TensorRT engines). ``kerasvision.artifact.read_info`` finds it for any
artifact, through the reader of its format's registry entry.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerasvision import __version__

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
