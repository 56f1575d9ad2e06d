"""Model export (installed as ``kerasvision.export``): one module and one registry entry per format.

``export_model(source, ...)`` turns a run's model into deployable artifacts
and verifies each with its own runtime and the deployment stacks installed
here; ``FORMATS`` (``registry.py``) holds each format's entry: its exporter
``export(model, path, job)``, predictor, metadata reader, options and checks.
Names are imported lazily, so ``import kerasvision.export.registry`` stays
free of TensorFlow. See docs/export.md.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "FORMATS": "kerasvision.export.registry",
    "READERS": "kerasvision.export.registry",
    "find_format": "kerasvision.export.registry",
    "format_of": "kerasvision.export.registry",
    "get_format": "kerasvision.export.registry",
    "Check": "kerasvision.export.format",
    "CheckContext": "kerasvision.export.format",
    "CheckResult": "kerasvision.export.format",
    "ExportJob": "kerasvision.export.format",
    "Format": "kerasvision.export.format",
    "ModelTraits": "kerasvision.export.format",
    "ExportOptions": "kerasvision.export.options",
    "OptionError": "kerasvision.export.options",
    "PRECISIONS": "kerasvision.export.options",
    "plan_exports": "kerasvision.export.formats",
    "ExportReport": "kerasvision.export.exporter",
    "artifact_path": "kerasvision.export.exporter",
    "export_model": "kerasvision.export.exporter",
    "Verification": "kerasvision.export.verify",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'kerasvision.export' has no attribute '{name}'")
    return getattr(importlib.import_module(_NAMES[name]), name)
