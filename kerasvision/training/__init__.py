"""Training: ``train(config)`` and the factories it wires together."""

from kerasvision.training.callbacks import create_callbacks, read_history
from kerasvision.training.optim import WarmupCosine, create_optimizer, create_schedule
from kerasvision.training.trainer import TrainResult, train

__all__ = [
    "TrainResult",
    "WarmupCosine",
    "create_callbacks",
    "create_optimizer",
    "create_schedule",
    "read_history",
    "train",
]
