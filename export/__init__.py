"""Model export (installed as ``kerasvision.export``): one module per format.

``export_model(source, ...)`` turns a run's model into deployable artifacts
and verifies each with its own runtime; ``FORMATS`` says which precisions and
options each format takes. See docs/export.md.
"""

from kerasvision.export.exporter import ExportReport, artifact_path, export_model
from kerasvision.export.formats import FORMATS, ExportOptions, plan_exports
from kerasvision.export.verify import Verification

__all__ = [
    "FORMATS",
    "ExportOptions",
    "ExportReport",
    "Verification",
    "artifact_path",
    "export_model",
    "plan_exports",
]
