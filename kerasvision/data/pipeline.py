"""Turns a dataset spec into batched ``tf.data`` pipelines ready for ``fit``."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from kerasvision.backend import tf
from kerasvision.config import AugmentConfig
from kerasvision.data.augment import make_batch_augment
from kerasvision.data.sources import Source, open_source

log = logging.getLogger(__name__)

_AUTOTUNE = tf.data.AUTOTUNE
_MEMORY_CACHE_LIMIT = 2 * 1024**3


@dataclass
class DataSplits:
    """Batched pipelines and what a model needs to know about them.

    Attributes:
        train: Shuffled, augmented training batches ``(float32 images, one-hot labels)``.
        val: Validation batches, same element spec, never augmented.
        test: Test batches, or the validation batches when there is no test split.
        class_names: Label names, index = class id.
        image_size: Square size the images were resized to.
        channels: 1 or 3.
        counts: Images per split.
        source: The opened source (skipped-file count, native size, ...).
        train_steps: Batches per epoch when ``train`` repeats forever (alternating
            flip: the epoch is counted inside the pipeline), else None.
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    class_names: list[str]
    image_size: int
    channels: int
    counts: dict[str, int] = field(default_factory=dict)
    source: Source | None = None
    train_steps: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)


def _cache(ds: tf.data.Dataset, mode: str, nbytes: int, cache_dir: Path | None, name: str):
    if mode == "auto":
        mode = "memory" if nbytes <= _MEMORY_CACHE_LIMIT else "none"
    if mode == "memory":
        return ds.cache()
    if mode == "disk":
        folder = cache_dir or Path(".kv-cache")
        folder.mkdir(parents=True, exist_ok=True)
        return ds.cache(str(folder / name))
    return ds


def _to_model_inputs(num_classes: int):
    def convert(images, labels):
        return tf.cast(images, tf.float32), tf.one_hot(labels, num_classes)

    return convert


def alternating_flip(ds: tf.data.Dataset, count: int, seed: int) -> tf.data.Dataset:
    """Shuffled forever; each image mirrored in every other epoch (airbench's alternating flip).

    A random half of the images is mirrored in the first epoch and every
    image's orientation alternates after that, so each epoch sees each image
    the other way round from the last: less repetition than a coin per view.
    The epoch is counted in the stream (position // ``count``), so the
    pipeline repeats itself and ``fit`` needs ``steps_per_epoch``.

    Args:
        ds: Unbatched ``(image, label)`` examples, in a fixed order.
        count: Examples per epoch.
        seed: Seed of the shuffle and of the first epoch's half.
    """
    count = max(int(count), 1)

    def orient(position, item):
        index, (image, label) = item
        first = tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed, tf.int64), index]))
        mirrored = tf.math.logical_xor(first < 0.5, (position // count) % 2 == 1)
        image = tf.cond(mirrored, lambda: tf.image.flip_left_right(image), lambda: image)
        return image, label

    ds = ds.enumerate().shuffle(min(count, 20_000), seed=seed, reshuffle_each_iteration=True)
    return ds.repeat().enumerate().map(orient, num_parallel_calls=_AUTOTUNE)


def build_pipelines(
    source: Source,
    *,
    image_size: int,
    channels: int,
    batch_size: int,
    augment: AugmentConfig | None = None,
    cache: str = "auto",
    cache_dir: Path | None = None,
    seed: int = 42,
) -> DataSplits:
    """Builds train/val/test pipelines from an opened source.

    Decoding runs in parallel, the decoded (resized, uint8) images are cached,
    the training split is reshuffled every epoch, batched, augmented as whole
    batches, and every split is prefetched.

    Args:
        source: An opened source (``open_source``).
        image_size: Square size to resize to.
        channels: 1 or 3.
        batch_size: Images per batch.
        augment: Augmentation for the training split. Defaults to None (none).
        cache: ``auto``, ``memory``, ``disk`` or ``none``. Defaults to ``auto``.
        cache_dir: Folder for ``disk`` caches. Defaults to None (``.kv-cache``).
        seed: Shuffle seed. Defaults to 42.

    Returns:
        The ``DataSplits``.
    """
    raw = source.splits(image_size, channels)
    convert = _to_model_inputs(len(source.class_names))
    per_image = image_size * image_size * channels
    out = {}
    alternate_train = augment is not None and augment.flip == "alternate"
    for split, ds in raw.items():
        n = source.counts.get(split, 0)
        tag = f"{split}-{image_size}x{channels}"
        ds = _cache(ds, cache, n * per_image, cache_dir, tag)
        if split == "train" and alternate_train:
            ds = alternating_flip(ds, n, seed)
        elif split == "train":
            ds = ds.shuffle(min(max(n, 1), 20_000), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, num_parallel_calls=_AUTOTUNE)
        ds = ds.map(convert, num_parallel_calls=_AUTOTUNE)
        if split == "train" and augment is not None:
            fn = make_batch_augment(augment, source.natural_flip, seed)
            if fn is not None:
                ds = ds.map(fn, num_parallel_calls=_AUTOTUNE)
        out[split] = ds.prefetch(_AUTOTUNE)
    return DataSplits(
        train=out["train"],
        val=out["val"],
        test=out.get("test", out["val"]),
        class_names=list(source.class_names),
        image_size=image_size,
        channels=channels,
        counts=dict(source.counts),
        source=source,
        train_steps=math.ceil(source.counts["train"] / batch_size) if alternate_train else None,
    )


def create_dataset(
    spec: str,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    batch_size: int = 64,
    augment: AugmentConfig | None = None,
    val_split: float = 0.2,
    test_split: float = 0.0,
    data_dir: str | None = None,
    cache: str = "auto",
    cache_dir: Path | None = None,
    seed: int = 42,
) -> DataSplits:
    """Opens ``spec`` and returns batched train/val/test pipelines.

    Args:
        spec: ``digits``, ``tfds:NAME`` or a folder of class subfolders.
        image_size: Square size; None keeps the data's own size (which must then
            be uniform). Defaults to None.
        channels: 1 or 3; None keeps the data's own. Defaults to None.
        batch_size: Images per batch. Defaults to 64.
        augment: Augmentation for the training split. Defaults to None (none).
        val_split: Validation fraction where the data has no validation split.
            Defaults to 0.2.
        test_split: Test fraction where the data has no test split. Defaults to 0.0.
        data_dir: tensorflow-datasets' data folder. Defaults to None.
        cache: ``auto``, ``memory``, ``disk`` or ``none``. Defaults to ``auto``.
        cache_dir: Folder for ``disk`` caches. Defaults to None.
        seed: Seed of splits and shuffling. Defaults to 42.

    Returns:
        The ``DataSplits``.
    """
    source = open_source(
        spec, data_dir=data_dir, seed=seed, val_split=val_split, test_split=test_split
    )
    size = image_size or resolve_size(source)
    return build_pipelines(
        source,
        image_size=size,
        channels=channels or source.native_channels,
        batch_size=batch_size,
        augment=augment,
        cache=cache,
        cache_dir=cache_dir,
        seed=seed,
    )


def resolve_size(source: Source, default: int | None = None) -> int:
    """The square size to use: ``default`` if given, else the data's own size."""
    from kerasvision.errors import KVError

    if default:
        return default
    if source.native_size and source.native_size[0] == source.native_size[1]:
        return source.native_size[0]
    raise KVError(f"images in {source.name} differ in size or are not square; pass --image-size")
