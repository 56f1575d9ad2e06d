"""What is known about each model family at int8, for ``kv models`` and ``kv export``.

Each built-in model names its family (``ModelSpec.family``). A family records
how its design meets int8: the ``kv models`` column, the warning an int8 export
should print (``int8_warning``), and what ``--qat`` does with it. Statements
marked "reported" come from the sources named; the measured figures are in
``docs/models.md`` (``benchmarks/bench_backbones.py``) and, once the benchmark
has been run with ``--save-table``, in ``int8_measured.json`` beside this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MEASURED_FILE = Path(__file__).with_name("int8_measured.json")


@dataclass(frozen=True)
class Int8Family:
    """How one design meets int8.

    Attributes:
        column: Short text for the ``kv models`` int8 column.
        warning: What an int8 export of it should say, or None when nothing.
        qat: What ``--qat`` does with it.
    """

    column: str
    warning: str | None
    qat: str


_VERIFY = "check the int8 top-1 agreement that the export verification prints"

FAMILIES: dict[str, Int8Family] = {
    "relu_bn": Int8Family(
        "good (ReLU+BN)",
        None,
        "quantized; the nested backbone is inlined",
    ),
    "efficientnet": Int8Family(
        "drop reported",
        "{model} (swish + squeeze-excite) is reported to lose 15+ top-1 points in "
        "post-training int8 (tensorflow/tpu#549); " + _VERIFY + ", or use "
        "efficientnet_lite0..4 (ReLU6, no squeeze-excite) or --qat",
        "quantized; squeeze-excite Multiply and the built-in Normalization stay float",
    ),
    "efficientnet_v2": Int8Family(
        "swish+SE: verify",
        "{model} has swish and squeeze-excite, the design reported to lose accuracy in "
        "post-training int8 (EfficientNet, tensorflow/tpu#549); " + _VERIFY,
        "quantized; squeeze-excite Multiply stays float",
    ),
    "mobilenet_v3": Int8Family(
        "hard-swish: verify",
        "{model}'s hard-swish and squeeze-excite are elementwise ops that int8 handles "
        "less well than ReLU; " + _VERIFY,
        "quantized with a quantize config for its hard-swish/hard-sigmoid ops "
        "(tfmot refuses them otherwise: tensorflow/model-optimization#1145)",
    ),
    "convnext": Int8Family(
        "LN/GELU float",
        "{model}'s LayerNormalization and GELU stay float in a TFLite int8 file "
        "(mixed int8/float, slower than a full-integer model); " + _VERIFY,
        "refused before training: LayerScale (a custom layer) cannot be quantized",
    ),
    "efficientnet_lite": Int8Family(
        "good (ReLU6, no SE)",
        None,
        "quantized",
    ),
}


@cache
def measured() -> dict[str, dict]:
    """Measured int8 figures by model name, from ``int8_measured.json`` ({} when absent)."""
    if not MEASURED_FILE.is_file():
        return {}
    return json.loads(MEASURED_FILE.read_text(encoding="utf-8")).get("models", {})


def int8_column(model_name: str, family: str | None) -> str:
    """The ``kv models`` int8 cell: the measured agreement, else the family's verdict."""
    figures = measured().get(model_name)
    if figures and figures.get("int8_agreement") is not None:
        return f"{100 * figures['int8_agreement']:.1f}% agree"
    return FAMILIES[family].column if family in FAMILIES else "-"


def int8_warning(model_name: str) -> str | None:
    """The warning an int8 export of ``model_name`` should print, or None.

    The exporter calls this with the model's registered name (the run's
    ``config.yaml`` ``model``) before converting to int8.

    Args:
        model_name: A registered model name; unknown names get None.
    """
    from kerasvision.errors import KVError
    from kerasvision.models.catalog import get_model_spec

    try:
        family = get_model_spec(model_name).family
    except KVError:
        return None
    text = FAMILIES[family].warning if family in FAMILIES else None
    return text.format(model=model_name) if text else None
