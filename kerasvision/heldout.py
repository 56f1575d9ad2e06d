"""The labelled images a model is judged on, and the images that calibrate int8.

One definition that ``kv eval``, ``kv export`` (verification and int8
calibration), ``kv benchmark`` and ``kv report`` share:

- the run's config (when the model is in a run) gives the dataset and the
  seed and fractions of its split, so ``held-out`` is the same test (or
  validation) split that training reported on;
- a dataset that is not the run's own is a test set: all of its images are
  used unless a split is asked for;
- the data's classes are mapped to the model's by name; a class the model
  does not predict is one clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kerasvision.errors import KVError, bad_value, unknown

if TYPE_CHECKING:
    from kerasvision.run import Run

SPLITS = ("held-out", "test", "val", "train", "all")


@dataclass
class HeldOut:
    """Labelled images at a model's input size, as batches of numpy arrays.

    Attributes:
        batches: Yields ``(uint8 images (B, H, W, C), class ids (B,))``, the
            ids in the model's numbering.
        count: Images expected (files that fail to decode are dropped).
        class_names: The data's class names.
        description: ``spec (split)``.
        split: The split names read, e.g. ``["test"]`` or ``["train", "val"]``.
    """

    batches: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]
    count: int
    class_names: list[str] = field(default_factory=list)
    description: str = ""
    split: list[str] = field(default_factory=list)

    def arrays(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``limit`` images evenly spread over the split, and their class ids.

        Splits are stored class by class, so the first ``limit`` images can
        miss whole classes; an even spread keeps the class mix and is the same
        on every call.

        Raises:
            KVError: When the split holds no image.
        """
        from kerasvision.data.sampling import collect_spread  # the data package loads TF

        images, labels = collect_spread(self.batches(), self.count, limit)
        if not len(images):
            raise KVError(f"no images in {self.description}")
        return images, labels.astype(np.int64)


def _placeholders(labels: list[str]) -> bool:
    """Whether ``labels`` are the ``class_<i>`` names of a model that carries none."""
    return list(labels) == [f"class_{i}" for i in range(len(labels))]


def label_mapping(data_names: list[str], model_labels: list[str]) -> np.ndarray:
    """Maps the data's class ids to the model's, by name.

    Raises:
        KVError: When the data has a class the model does not predict.
    """
    if list(data_names) == list(model_labels):
        return np.arange(len(data_names))
    if _placeholders(model_labels) and len(data_names) == len(model_labels):
        return np.arange(len(data_names))  # the model carries no names: trust the order
    index = {name: i for i, name in enumerate(model_labels)}
    missing = [name for name in data_names if name not in index]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise KVError(
            f"the data has classes the model does not predict: {shown} "
            f"(the model's classes: {', '.join(model_labels[:10])}"
            f"{', ...' if len(model_labels) > 10 else ''})"
        )
    return np.asarray([index[name] for name in data_names])


def display_labels(model_labels: list[str], data_names: list[str]) -> list[str]:
    """The model's labels, or the data's names when the model carries none."""
    if _placeholders(model_labels) and len(data_names) == len(model_labels):
        return list(data_names)
    return list(model_labels)


def _same_dataset(spec: str, run_spec: str) -> bool:
    if spec == run_spec:
        return True
    a, b = Path(spec).expanduser(), Path(run_spec).expanduser()
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def _open(run: Run | None, dataset: str | None, data_dir: str | None):
    """``(source, config, own)``: the opened data, its split settings, whether it is the run's."""
    from kerasvision.config import TrainConfig
    from kerasvision.data import open_source

    config = run.config() if run else TrainConfig()
    spec = dataset or (config.dataset if run else None)
    if spec is None:
        raise KVError("the model is not in a run directory: name a dataset to use")
    own = run is not None and _same_dataset(spec, config.dataset)
    source = open_source(
        spec,
        data_dir=data_dir or config.data_dir,
        seed=config.split_seed,
        val_split=config.val_split,
        test_split=config.test_split,
    )
    return source, config, own


def _split_names(source, split: str | None, own: bool, spec: str) -> list[str]:
    if split is None:
        split = "held-out" if own else "all"
    if split not in SPLITS:
        raise unknown("split", split, SPLITS)
    if split == "held-out":
        return ["test" if "test" in source.counts else "val"]
    if split == "all":
        return [s for s in ("train", "val", "test") if s in source.counts]
    if split not in source.counts:
        raise KVError(f"{spec} has no {split} split; it has: {', '.join(sorted(source.counts))}")
    return [split]


def heldout(
    input_shape: tuple[int, int, int],
    model_labels: list[str],
    *,
    run: Run | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    split: str | None = None,
    batch_size: int = 64,
) -> HeldOut:
    """Opens the labelled images a model is judged on.

    Args:
        input_shape: The model's ``(height, width, channels)``.
        model_labels: The model's class names (the data's are mapped to them).
        run: The run the model belongs to. Defaults to None.
        dataset: ``digits``, ``tfds:NAME`` or a folder. Defaults to None (the run's).
        data_dir: tensorflow-datasets' data folder. Defaults to None (the run's).
        split: ``held-out`` (test if the data has one, else validation),
            ``test``, ``val``, ``train`` or ``all``. Defaults to None:
            ``held-out`` of the run's own dataset, ``all`` of any other.
        batch_size: Images per batch. Defaults to 64.

    Returns:
        The ``HeldOut``.
    """
    if batch_size < 1:
        raise bad_value("batch_size", f"must be at least 1, got {batch_size}")
    height, width, channels = (int(d) for d in input_shape)
    if height != width:
        raise KVError(f"evaluation needs a square model input, got {height}x{width}")
    source, _, own = _open(run, dataset, data_dir)
    names = _split_names(source, split, own, source.name)
    mapping = label_mapping(source.class_names, model_labels)
    raw = source.splits(height, channels)  # resized uint8 images, unshuffled, integer labels

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for name in names:
            for images, labels in raw[name].batch(batch_size).prefetch(2):
                yield images.numpy(), mapping[labels.numpy()]

    return HeldOut(
        batches=batches,
        count=sum(source.counts[name] for name in names),
        class_names=list(source.class_names),
        description=f"{source.name} ({'+'.join(names)})",
        split=names,
    )


def calibration_images(
    input_shape: tuple[int, int, int],
    count: int,
    *,
    run: Run | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> np.ndarray:
    """Training images that set int8 ranges: ``count`` spread evenly over the train split.

    A model in a run calibrates on its own training images, also when it is
    verified on another dataset; otherwise ``dataset``'s train split (all of
    it when it has no split of its own) is used.

    Returns:
        float32 raw pixels ``(n, H, W, C)``, ``n <= count``.
    """
    if count < 1:
        raise bad_value("calib", f"must be at least 1, got {count}")
    use_run = run if run is not None else None
    source, _, _ = _open(use_run, None if use_run else dataset, data_dir)
    height, _, channels = (int(d) for d in input_shape)
    raw = source.splits(height, channels)
    name = "train" if "train" in raw else next(iter(raw))
    held = HeldOut(
        batches=lambda: ((x.numpy(), y.numpy()) for x, y in raw[name].batch(64)),
        count=source.counts.get(name, 0),
        description=f"{source.name} ({name})",
    )
    images, _ = held.arrays(count)
    return images.astype(np.float32)
