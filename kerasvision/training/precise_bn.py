"""Precise BatchNorm statistics: the moving mean and variance recomputed with the weights fixed.

BatchNorm's moving statistics are an exponential average with momentum 0.99:
about a hundred steps behind the weights. A short run (a few hundred steps,
a fine-tuning stage, a small dataset) ends with statistics of weights it no
longer has, and the model is broken in inference mode although it trains
well. As in detectron2's and timm's precise BN, ``recompute_bn_statistics``
runs training batches forward once with the weights fixed and sets each
layer's statistics to the plain average over those batches. ``PreciseBN``
does it before every validation of ``fit`` and so before every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kerasvision.backend import keras, tf


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer of ``model``, nested models and wrappers included."""
    found, stack, seen = [], [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        inner = getattr(layer, "layer", None)  # pruning and quantization wrappers
        if isinstance(inner, keras.layers.Layer):
            stack.append(inner)
        stack.extend(reversed(getattr(layer, "layers", [])))
    return found


def recompute_bn_statistics(
    model, batches: Iterable, max_batches: int = 50, *, forward: Callable | None = None
) -> int:
    """Sets every BatchNorm layer's moving statistics to their average over ``batches``.

    Each batch is run forward in training mode with the layers' momentum at
    0, so their moving statistics become that batch's; the average over the
    batches is then assigned. Nothing else changes: no gradient is applied.
    Layers called with ``training=False`` (a frozen pretrained backbone) keep
    theirs.

    Args:
        model: The network (not a ``Distiller``: pass its student).
        batches: ``(images, labels)`` or image batches, e.g. the training split.
        max_batches: How many batches to average over. Defaults to 50.
        forward: ``training_forward(model)`` made earlier, to reuse its graph.
            Defaults to None (a new one).

    Returns:
        The number of batches used (0 when the model has no BatchNorm layer).
    """
    layers = batchnorm_layers(model)
    if not layers or max_batches < 1:
        return 0
    saved = [
        (layer.momentum, layer.moving_mean.numpy(), layer.moving_variance.numpy())
        for layer in layers
    ]
    strategy = tf.distribute.get_strategy()
    sums = [[0.0, 0.0] for _ in layers]
    used = 0
    try:
        for layer in layers:
            layer.momentum = 0.0
        forward = forward or training_forward(model)
        for batch in batches:
            if used >= max_batches:
                break
            images = batch[0] if isinstance(batch, tuple | list) else batch
            if strategy.num_replicas_in_sync > 1:
                strategy.run(forward, args=(images,))
            else:
                forward(images)
            for total, layer in zip(sums, layers, strict=True):
                total[0] = total[0] + layer.moving_mean.numpy()
                total[1] = total[1] + layer.moving_variance.numpy()
            used += 1
    finally:
        for layer, (momentum, mean, variance) in zip(layers, saved, strict=True):
            layer.momentum = momentum
            if not used:
                layer.moving_mean.assign(mean)
                layer.moving_variance.assign(variance)
    for (mean, variance), layer in zip(sums, layers, strict=True):
        if used:
            layer.moving_mean.assign(mean / used)
            layer.moving_variance.assign(variance / used)
    return used


def training_forward(model) -> Callable:
    """``model`` run in training mode as one graph (traced once, at the first call)."""
    return tf.function(lambda x: model(x, training=True))


class PreciseBN(keras.callbacks.Callback):
    """Recomputes BatchNorm statistics before each validation of ``fit``.

    ``fit`` validates after an epoch's training steps and before
    ``on_epoch_end``, so the validation figures, the best checkpoint and the
    saved model all see statistics of the final weights.

    Args:
        network: The network whose BatchNorm layers are recomputed (the
            student of a ``Distiller``).
        batches: Training batches to average over.
        max_batches: Batches per recomputation. Defaults to 50.
    """

    def __init__(self, network, batches, max_batches: int = 50):
        super().__init__()
        self.network = network
        self.batches = batches
        self.max_batches = max_batches
        self.trained = False
        self.forward = training_forward(network)

    def on_train_batch_end(self, batch, logs=None):
        self.trained = True

    def on_test_begin(self, logs=None):
        if self.trained:
            recompute_bn_statistics(
                self.network, self.batches, self.max_batches, forward=self.forward
            )
            self.trained = False

    def on_train_end(self, logs=None):
        # A run without validation data, a last epoch cut short, or weights that
        # ``fit`` has just replaced with the optimizer's moving average (``use_ema``).
        if getattr(self.model.optimizer, "use_ema", False):
            self.trained = True
        self.on_test_begin()
