"""Compression: post-training quantization, pruning and quantization-aware training."""

from kerasvision.compress.pruning import (
    gzip_size,
    plan_pruning,
    prune_model,
    select_layers,
    sparsity_table,
    strip,
)
from kerasvision.compress.ptq import TFLITE_PRECISIONS, to_tflite
from kerasvision.compress.qat import QAT_MODES, quantize_model, quantize_scope
from kerasvision.config import PRUNE_STRUCTURES

__all__ = [
    "PRUNE_STRUCTURES",
    "QAT_MODES",
    "TFLITE_PRECISIONS",
    "gzip_size",
    "plan_pruning",
    "prune_model",
    "quantize_model",
    "quantize_scope",
    "select_layers",
    "sparsity_table",
    "strip",
    "to_tflite",
]
