"""Patch-whitening initialization of a model's first convolution (airbench, Page's ResNet-9).

``whiten_first_conv`` sets the kernel of the layer named ``whiten`` from the
training images: for the ``k x k x c`` patches that it reads, each eigenvector
``v`` of their covariance (eigenvalue ``l``) becomes the two filters
``+v / sqrt(l + eps)`` and ``-v / sqrt(l + eps)``, and the bias centres the
output. The layer is then frozen: the network starts from decorrelated,
unit-variance inputs and trains everything after them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kerasvision.backend import keras, tf
from kerasvision.errors import KVError

WHITEN_LAYER = "whiten"


def whitening_weights(
    patches: np.ndarray, kernel_size: tuple[int, int], eps: float = 5e-4
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(kernel, bias)`` of a conv that whitens ``patches``.

    Args:
        patches: ``(N, kh * kw * c)`` flattened patches, in the order of a
            Conv2D kernel's first three axes (rows, columns, channels).
        kernel_size: ``(kh, kw)``.
        eps: Added to each eigenvalue, so near-constant directions are not
            blown up. Defaults to 5e-4.

    Returns:
        ``kernel`` of shape ``(kh, kw, c, 2 * kh * kw * c)`` and ``bias`` of
        shape ``(2 * kh * kw * c,)``.
    """
    patches = np.asarray(patches, np.float64)
    dims = patches.shape[1]
    mean = patches.mean(axis=0)
    covariance = np.cov(patches - mean, rowvar=False).reshape(dims, dims)
    values, vectors = np.linalg.eigh(covariance)
    filters = vectors.T[::-1] / np.sqrt(np.maximum(values[::-1], 0.0) + eps)[:, None]
    filters = np.concatenate([filters, -filters])  # (2 * dims, dims)
    channels = dims // (kernel_size[0] * kernel_size[1])
    kernel = filters.T.reshape(kernel_size[0], kernel_size[1], channels, 2 * dims)
    bias = -(filters @ mean)
    return kernel.astype(np.float32), bias.astype(np.float32)


def whiten_first_conv(model, batches: Iterable, max_images: int = 2000) -> int:
    """Whitens the ``whiten`` layer of ``model`` on training images and freezes it.

    Args:
        model: A model with a ``Conv2D`` named ``whiten`` (``airbench``).
        batches: ``(images, labels)`` batches of raw pixels, e.g. the training split.
        max_images: Images to estimate the covariance from. Defaults to 2000.

    Returns:
        The number of images used.

    Raises:
        KVError: When the model has no such layer, or it has the wrong filter count.
    """
    try:
        layer = model.get_layer(WHITEN_LAYER)
    except ValueError:
        raise KVError(
            f"whiten needs a model with a '{WHITEN_LAYER}' convolution (airbench); "
            f"{model.name} has none",
            param="whiten",
        ) from None
    kh, kw = layer.kernel_size
    channels = int(layer.input.shape[-1])
    if layer.filters != 2 * kh * kw * channels:
        raise KVError(
            f"the '{WHITEN_LAYER}' layer has {layer.filters} filters; whitening "
            f"{kh}x{kw}x{channels} patches makes {2 * kh * kw * channels}"
        )
    features = keras.Model(model.inputs, layer.input)
    chunks, used = [], 0
    for batch in batches:
        images = batch[0] if isinstance(batch, tuple | list) else batch
        x = features(images, training=False)
        patches = tf.image.extract_patches(
            x, sizes=[1, kh, kw, 1], strides=[1, 1, 1, 1], rates=[1, 1, 1, 1], padding="VALID"
        )
        chunks.append(tf.reshape(tf.cast(patches, tf.float32), [-1, kh * kw * channels]).numpy())
        used += int(images.shape[0])
        if used >= max_images:
            break
    if not used:
        raise KVError("whiten: the training split has no images")
    kernel, bias = whitening_weights(np.concatenate(chunks), (kh, kw))
    layer.set_weights([kernel, bias] if layer.use_bias else [kernel])
    layer.trainable = False
    return used
