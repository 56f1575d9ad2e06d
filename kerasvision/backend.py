"""The one place that imports TensorFlow and Keras.

kerasvision uses Keras 2 through the ``tf_keras`` package: the model
optimization toolkit (pruning, QAT), tf2onnx and the TFLite converter all work
with it. ``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow is imported so that
``tf.keras`` is the same Keras 2. Every other module imports ``keras`` and
``tf`` from here.
"""

from __future__ import annotations

import logging
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# Hide TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tf_keras as keras

logging.getLogger("tensorflow").setLevel(logging.ERROR)
logging.getLogger("absl").setLevel(logging.ERROR)

__all__ = ["gpus", "keras", "tf"]


def gpus() -> list:
    """Returns the physical GPUs TensorFlow can see (empty on a CPU machine)."""
    return tf.config.list_physical_devices("GPU")
