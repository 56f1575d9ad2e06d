"""kerasvision: train, distill, compress and export Keras image classifiers.

Importing the package is cheap: TensorFlow loads only when a function or
class that needs it is used. The Python API mirrors ``kv``::

    import kerasvision as kv

    run = kv.train("digits-edge", out="runs/digits-edge")
    artifacts = kv.export_run(run, formats=["tflite"], precisions=["int8"])
    probs = artifacts[0].predict(images)
    print(kv.evaluate(artifacts[0]).accuracy)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use (PEP 562).
_LAZY = {
    "train": "kerasvision.api",
    "evaluate": "kerasvision.api",
    "make_config": "kerasvision.api",
    "export_run": "kerasvision.api",
    "Run": "kerasvision.run",
    "RunMetrics": "kerasvision.run",
    "Artifact": "kerasvision.artifact",
    "resolve": "kerasvision.artifact",
    "TrainConfig": "kerasvision.config",
    "KVError": "kerasvision.errors",
    "export_model": "kerasvision.export.exporter",
    "create_model": "kerasvision.models",
    "list_models": "kerasvision.models",
    "load_predictor": "kerasvision.predictor",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'kerasvision' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
