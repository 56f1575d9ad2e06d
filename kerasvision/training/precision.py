"""The precision policy of training: float32, mixed_float16 or mixed_bfloat16."""

from __future__ import annotations

import logging
from pathlib import Path

from kerasvision.backend import gpus, keras
from kerasvision.config import TrainConfig

log = logging.getLogger(__name__)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def setup_precision(config: TrainConfig) -> str:
    """Sets and returns the global Keras dtype policy for training.

    Pruning and quantization-aware training always run in float32: tfmot's
    masks and fake-quantization ranges are float32 variables.

    Args:
        config: The run's config (``mixed_precision``, ``prune``, ``qat``).

    Returns:
        The policy name: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
    """
    mode = config.mixed_precision
    if config.prune.sparsity or config.qat != "off":
        if mode not in ("auto", "off"):
            log.info("pruning and QAT train in float32; mixed_precision %s is not used", mode)
        mode = "off"
    policy = _policy(mode)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def teacher_policy(config: TrainConfig) -> str:
    """The dtype policy a distillation teacher runs its inference under.

    ``mixed_precision`` as for training, but pruning and QAT do not force
    float32: they change the student, and the frozen teacher only infers.

    Args:
        config: The run's config (``mixed_precision``).

    Returns:
        ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
    """
    return _policy(config.mixed_precision)


def _policy(mode: str) -> str:
    if mode == "auto":
        mode = "float16" if gpus() else ("bfloat16" if cpu_has_bf16() else "off")
    return "float32" if mode == "off" else f"mixed_{mode}"
