"""Datasets: ``create_dataset(spec, ...)`` for digits, tfds:NAME and image folders."""

from kerasvision.data.pipeline import DataSplits, build_pipelines, create_dataset, resolve_size
from kerasvision.data.sources import IMAGE_EXTENSIONS, Source, open_source

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataSplits",
    "Source",
    "build_pipelines",
    "create_dataset",
    "open_source",
    "resolve_size",
]
