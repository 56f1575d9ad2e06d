"""Batch-level data augmentation: Keras preprocessing layers, mixup and CutMix.

Everything here runs on whole float32 batches inside the ``tf.data`` pipeline,
after batching, so each op is one vectorized call per batch.
"""

from __future__ import annotations

from kerasvision.backend import keras, tf
from kerasvision.config import AugmentConfig


def build_augmenter(cfg: AugmentConfig, natural_flip: bool, seed: int | None = None):
    """Builds the geometric/photometric augmentation as a Keras ``Sequential``.

    Args:
        cfg: The augmentation settings.
        natural_flip: What ``flip: auto`` means for this dataset.
        seed: Seed of the random layers. Defaults to None.

    Returns:
        A ``keras.Sequential`` to call with ``training=True``, or None when
        nothing is enabled.
    """
    flip = cfg.flip
    if flip == "auto":
        flip = "horizontal" if natural_flip else "none"
    # float32 whatever the global mixed-precision policy: this runs in tf.data.
    common = {"seed": seed, "dtype": "float32"}
    spatial = {**common, "fill_mode": "reflect"}
    L = keras.layers
    layers = []
    if flip not in ("none", "alternate"):  # alternate: per image, in the pipeline
        layers.append(L.RandomFlip(flip, name="flip", **common))
    if cfg.rotation:
        layers.append(L.RandomRotation(cfg.rotation, name="rotate", **spatial))
    if cfg.zoom:
        layers.append(L.RandomZoom((-cfg.zoom, cfg.zoom), name="zoom", **spatial))
    if cfg.translate:
        layers.append(
            L.RandomTranslation(cfg.translate, cfg.translate, name="translate", **spatial)
        )
    if cfg.contrast:
        layers.append(L.RandomContrast(cfg.contrast, name="contrast", **common))
    return keras.Sequential(layers, name="augment") if layers else None


def _beta(alpha: float, n: tf.Tensor) -> tf.Tensor:
    """``n`` samples of Beta(alpha, alpha), via two gamma draws."""
    a = tf.random.gamma([n], alpha)
    b = tf.random.gamma([n], alpha)
    return a / (a + b)


def mixup(images: tf.Tensor, labels: tf.Tensor, alpha: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Mixes each image and one-hot label with another from the batch.

    Args:
        images: Float batch ``(N, H, W, C)``.
        labels: One-hot batch ``(N, K)``.
        alpha: Beta(alpha, alpha) concentration; larger mixes more evenly.

    Returns:
        The mixed images and labels; each label row still sums to 1.
    """
    n = tf.shape(images)[0]
    lam = _beta(alpha, n)
    perm = tf.random.shuffle(tf.range(n))
    lam_img = tf.reshape(lam, [-1, 1, 1, 1])
    lam_lab = tf.reshape(lam, [-1, 1])
    mixed = lam_img * images + (1.0 - lam_img) * tf.gather(images, perm)
    return mixed, lam_lab * labels + (1.0 - lam_lab) * tf.gather(labels, perm)


def cutmix(images: tf.Tensor, labels: tf.Tensor, alpha: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Pastes a random box from another image of the batch into each image.

    The label weights are the exact pasted area, so each row still sums to 1.

    Args:
        images: Float batch ``(N, H, W, C)``.
        labels: One-hot batch ``(N, K)``.
        alpha: Beta(alpha, alpha) concentration of the kept fraction.

    Returns:
        The mixed images and labels.
    """
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    lam = _beta(alpha, n)
    ratio = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(ratio * tf.cast(h, tf.float32), tf.int32)
    cut_w = tf.cast(ratio * tf.cast(w, tf.float32), tf.int32)
    cy = tf.random.uniform([n], 0, h, dtype=tf.int32)
    cx = tf.random.uniform([n], 0, w, dtype=tf.int32)
    y0, y1 = tf.maximum(cy - cut_h // 2, 0), tf.minimum(cy + cut_h // 2, h)
    x0, x1 = tf.maximum(cx - cut_w // 2, 0), tf.minimum(cx + cut_w // 2, w)
    rows = tf.range(h)[None, :, None]
    cols = tf.range(w)[None, None, :]
    inside = (
        (rows >= y0[:, None, None])
        & (rows < y1[:, None, None])
        & (cols >= x0[:, None, None])
        & (cols < x1[:, None, None])
    )
    mask = tf.cast(inside, images.dtype)[..., None]
    perm = tf.random.shuffle(tf.range(n))
    mixed = images * (1.0 - mask) + tf.gather(images, perm) * mask
    pasted = tf.reduce_mean(mask, axis=[1, 2, 3])[:, None]
    return mixed, (1.0 - pasted) * labels + pasted * tf.gather(labels, perm)


def make_batch_augment(cfg: AugmentConfig, natural_flip: bool, seed: int | None = None):
    """Returns ``fn(images, labels) -> (images, labels)`` for a training batch, or None."""
    augmenter = build_augmenter(cfg, natural_flip, seed)
    if augmenter is None and not cfg.mixup and not cfg.cutmix:
        return None

    def mix(images, labels):
        if cfg.mixup and cfg.cutmix:
            # Like timm: one of the two per batch, with equal odds.
            return tf.cond(
                tf.random.uniform([]) < 0.5,
                lambda: mixup(images, labels, cfg.mixup),
                lambda: cutmix(images, labels, cfg.cutmix),
            )
        if cfg.mixup:
            return mixup(images, labels, cfg.mixup)
        return cutmix(images, labels, cfg.cutmix)

    def apply(images, labels):
        if augmenter is not None:
            images = augmenter(images, training=True)
        if not (cfg.mixup or cfg.cutmix) or cfg.mix_prob <= 0:
            return images, labels
        if cfg.mix_prob >= 1:
            return mix(images, labels)
        return tf.cond(
            tf.random.uniform([]) < cfg.mix_prob,
            lambda: mix(images, labels),
            lambda: (images, labels),
        )

    return apply
