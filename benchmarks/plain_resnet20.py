"""The peer a user would write: a plain tf_keras ResNet-20 trained for a fixed time.

Flip + 4-pixel pad-and-crop, SGD with Nesterov momentum 0.9, L2 5e-4, batch
128, a cosine learning rate over the wall-clock budget (peak 0.1), and a stop
when the budget is spent. No kerasvision code trains it: ``train_plain``
gets the image arrays and returns the trained model.
"""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

L2 = keras.regularizers.l2(5e-4)


def _block(x, filters: int, stride: int):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, stride, use_bias=False, kernel_regularizer=L2)(x)
        shortcut = keras.layers.BatchNormalization()(shortcut)
    y = keras.layers.Conv2D(filters, 3, stride, "same", use_bias=False, kernel_regularizer=L2)(x)
    y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
    y = keras.layers.Conv2D(filters, 3, 1, "same", use_bias=False, kernel_regularizer=L2)(y)
    y = keras.layers.BatchNormalization()(y)
    return keras.layers.ReLU()(keras.layers.Add()([shortcut, y]))


def resnet20(num_classes: int = 10):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, kernel_regularizer=L2)(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            x = _block(x, filters, 2 if stage and not block else 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, kernel_regularizer=L2)(x))


class CosineOverTime(keras.callbacks.Callback):
    """Cosine learning rate over the elapsed fraction of the budget; stops at its end."""

    def __init__(self, peak: float, seconds: float):
        super().__init__()
        self.peak, self.seconds, self.start = peak, seconds, None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        done = min(1.0, (time.perf_counter() - self.start) / self.seconds)
        self.model.optimizer.learning_rate.assign(self.peak * 0.5 * (1 + math.cos(math.pi * done)))
        if done >= 1.0:
            self.model.stop_training = True


def _augment(image, label):
    image = tf.image.random_flip_left_right(image)
    image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="REFLECT")
    return tf.image.random_crop(image, (32, 32, 3)), label


def train_plain(x: np.ndarray, y: np.ndarray, minutes: float, seed: int):
    """A ResNet-20 trained on uint8 images ``x`` and labels ``y`` for ``minutes``."""
    keras.utils.set_random_seed(seed)
    ds = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y))
    ds = ds.shuffle(len(x), seed=seed).map(_augment, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(128).prefetch(tf.data.AUTOTUNE)
    model = resnet20(int(y.max()) + 1)
    model.compile(
        keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(ds, epochs=10_000, callbacks=[CosineOverTime(0.1, minutes * 60)], verbose=0)
    return model


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    logits = model.predict(x.astype("float32"), batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == y))
