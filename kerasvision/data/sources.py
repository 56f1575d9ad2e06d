"""Where images come from: sklearn's digits, image folders, tensorflow-datasets.

A source yields *unbatched* ``(uint8 image HxWxC, int label)`` splits already
resized to the requested size and converted to the requested channels. Batching,
caching and augmentation are the pipeline's job (``kerasvision.data.pipeline``).
"""

from __future__ import annotations

import abc
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from kerasvision.backend import tf
from kerasvision.errors import KVError, did_you_mean
from kerasvision.images import MAX_PIXELS

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_SPLIT_DIRS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
# tensorflow-datasets whose images are digits or characters: a mirrored "2" is no
# longer a 2, so ``flip: auto`` leaves them unflipped.
_UNFLIPPABLE_TFDS = ("mnist", "emnist", "kmnist", "svhn_cropped", "binary_alpha_digits", "omniglot")
_AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class Source(abc.ABC):
    """A dataset opened but not yet read.

    Attributes:
        name: The spec it was opened from.
        class_names: Label names, index = class id.
        native_size: The images' own size (height, width) when uniform, else None.
        native_channels: 1 or 3.
        natural_flip: Whether a horizontal flip keeps the meaning of an image.
        counts: Images per split.
        skipped: Files passed over because they are not images.
    """

    name: str
    class_names: list[str]
    native_size: tuple[int, int] | None
    native_channels: int
    natural_flip: bool = True
    counts: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    @abc.abstractmethod
    def splits(self, image_size: int, channels: int) -> dict[str, tf.data.Dataset]:
        """Returns unbatched ``(uint8 image, label)`` datasets by split name."""


def _to_uint8(image: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
    """Resizes (antialiased) and converts an image tensor to uint8 with ``channels``."""
    image = tf.convert_to_tensor(image)
    if image.shape[-1] == 3 and channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    elif image.shape[-1] == 1 and channels == 3:
        image = tf.image.grayscale_to_rgb(image)
    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


# --- digits -----------------------------------------------------------------


@dataclass
class DigitsSource(Source):
    """scikit-learn's 1,797 bundled 8x8 handwritten digits; no network needed."""

    seed: int = 42
    val_split: float = 0.2
    test_split: float = 0.0
    _arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def open(cls, seed: int, val_split: float, test_split: float) -> DigitsSource:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
        labels = digits.target.astype(np.int64)
        index = _stratified_split(labels, val_split, test_split, seed)
        arrays = {split: (images[idx], labels[idx]) for split, idx in index.items()}
        return cls(
            name="digits",
            class_names=[str(d) for d in range(10)],
            native_size=(8, 8),
            native_channels=1,
            natural_flip=False,
            counts={split: len(idx) for split, idx in index.items()},
            seed=seed,
            _arrays=arrays,
        )

    def splits(self, image_size: int, channels: int) -> dict[str, tf.data.Dataset]:
        out = {}
        for split, (images, labels) in self._arrays.items():
            ds = tf.data.Dataset.from_tensor_slices((images, labels))
            out[split] = ds.map(
                lambda x, y: (_to_uint8(x, image_size, channels), y),
                num_parallel_calls=_AUTOTUNE,
            )
        return out


def _stratified_split(
    labels: np.ndarray, val_split: float, test_split: float, seed: int
) -> dict[str, np.ndarray]:
    """Splits indices per class so each split keeps the class balance."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_val = max(1, round(len(idx) * val_split)) if len(idx) > 1 else 0
        n_test = round(len(idx) * test_split)
        parts["val"].append(idx[:n_val])
        parts["test"].append(idx[n_val : n_val + n_test])
        parts["train"].append(idx[n_val + n_test :])
    out = {k: np.sort(np.concatenate(v)) for k, v in parts.items()}
    if not len(out["test"]):
        del out["test"]
    return out


# --- image folders -------------------------------------------------------------


def _is_image(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return head.startswith(_MAGIC)


def _shown(path: str | bytes | Path) -> str:
    """A path printable on any terminal: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _too_large(path: Path) -> bool:
    """Whether an image's header claims more than ``MAX_PIXELS`` (only the header is read)."""
    from PIL import Image

    from kerasvision.images import MAX_PIXELS

    try:
        with Image.open(path) as image:
            return image.width * image.height > MAX_PIXELS
    except Image.DecompressionBombError:
        return True
    except OSError:
        return False  # broken data: the pipeline drops it (ignore_errors)


def _scan_classes(root: Path, class_names: list[str] | None = None):
    """Lists ``(files, labels, class_names, skipped)`` under ``root/<class>/``.

    Files are ``bytes`` paths (``os.fsencode``), so that a name that is not
    valid UTF-8 reaches ``tf.io.read_file`` unchanged instead of failing the
    conversion to a string tensor. Images whose header claims more than
    ``kerasvision.images.MAX_PIXELS`` are skipped (decompression bombs).
    """
    if class_names is None:
        class_names = sorted(
            d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
        )
        if not class_names:
            raise KVError(f"{root} has no class subfolders; put images in {root}/<class>/")
        if len(class_names) < 2:
            raise KVError(f"{root} has one class ({class_names[0]}); a classifier needs two")
    files, labels, skipped = [], [], []
    for label, name in enumerate(class_names):
        folder = root / name
        if not folder.is_dir():
            raise KVError(f"{root} has no folder for class '{name}'")
        found = 0
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.suffix.lower() in IMAGE_EXTENSIONS and _is_image(path):
                if _too_large(path):
                    skipped.append(path)
                    continue
                files.append(os.fsencode(path))
                labels.append(label)
                found += 1
            else:
                skipped.append(path)
        if not found:
            raise KVError(f"class '{name}' has no images in {folder}")
    return files, labels, class_names, skipped


def _decode_file(path: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return _to_uint8(tf.cast(image, tf.float32), image_size, channels)


@dataclass
class FolderSource(Source):
    """Class-per-subfolder images, optionally under ``train/``, ``val/``, ``test/``."""

    _files: dict[str, tuple[list[bytes], list[int]]] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path, seed: int, val_split: float, test_split: float) -> FolderSource:
        if not root.is_dir():
            raise KVError(f"dataset folder not found: {root}")
        split_dirs = {
            split: next((root / n for n in names if (root / n).is_dir()), None)
            for split, names in _SPLIT_DIRS.items()
        }
        files: dict[str, tuple[list[bytes], list[int]]] = {}
        if split_dirs["train"] is not None:
            paths, labels, class_names, skipped = _scan_classes(split_dirs["train"])
            files["train"] = (paths, labels)
            for split in ("val", "test"):
                if split_dirs[split] is not None:
                    p, lab, _, skip = _scan_classes(split_dirs[split], class_names)
                    files[split] = (p, lab)
                    skipped += skip
            if "val" not in files:
                files = _split_files(paths, labels, val_split, test_split, seed) | (
                    {"test": files["test"]} if "test" in files else {}
                )
        else:
            orphans = [d.name for d in split_dirs.values() if d is not None]
            if orphans:
                raise KVError(
                    f"{root} has {orphans[0]}/ but no train/ folder: put the training "
                    f"images in {root / 'train'} (class subfolders), or rename {orphans[0]}/ "
                    "if it is a class"
                )
            paths, labels, class_names, skipped = _scan_classes(root)
            files = _split_files(paths, labels, val_split, test_split, seed)
        if skipped:
            log.warning(
                "skipped %d file(s) that are not images or claim more than %d megapixels, e.g. %s",
                len(skipped),
                MAX_PIXELS // 1_000_000,
                _shown(skipped[0]),
            )
        size = _uniform_size([p for p, _ in files.values()])
        return cls(
            name=str(root),
            class_names=class_names,
            native_size=size,
            native_channels=3,
            counts={k: len(v[0]) for k, v in files.items()},
            skipped=len(skipped),
            _files=files,
        )

    def splits(self, image_size: int, channels: int) -> dict[str, tf.data.Dataset]:
        out = {}
        for split, (paths, labels) in self._files.items():
            ds = tf.data.Dataset.from_tensor_slices((paths, np.asarray(labels, np.int64)))
            ds = ds.map(
                lambda p, y: (_decode_file(p, image_size, channels), y),
                num_parallel_calls=_AUTOTUNE,
            )
            # A file with a valid header but broken data is dropped, not fatal.
            out[split] = ds.ignore_errors()
        return out


def _split_files(paths, labels, val_split, test_split, seed):
    index = _stratified_split(np.asarray(labels), val_split, test_split, seed)
    return {
        split: ([paths[i] for i in idx], [labels[i] for i in idx]) for split, idx in index.items()
    }


def folder_image_size(spec: str, probe: int = 16) -> tuple[int, int] | None:
    """The (height, width) shared by a sample of an image folder's images, else None.

    None too when ``spec`` is not a folder (``digits``, ``tfds:NAME``) or has
    no images. Reads a few headers only.

    Args:
        spec: A dataset spec.
        probe: Images to look at. Defaults to 16.
    """
    root = Path(spec)
    if spec == "digits" or spec.startswith("tfds:") or not root.is_dir():
        return None
    train = next((root / n for n in _SPLIT_DIRS["train"] if (root / n).is_dir()), root)
    paths = []
    for folder in sorted(p for p in train.iterdir() if p.is_dir()):
        found = (f for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_EXTENSIONS)
        paths += [str(f) for _, f in zip(range(max(1, probe // 4)), found, strict=False)]
    return _uniform_size([paths], probe) if paths else None


def _uniform_size(path_lists: list[list[str]], probe: int = 16) -> tuple[int, int] | None:
    """The (height, width) shared by a sample of the images, else None."""
    from PIL import Image

    sizes = set()
    for paths in path_lists:
        for path in paths[:: max(1, len(paths) // probe)][:probe]:
            try:
                with Image.open(path) as im:
                    sizes.add((im.height, im.width))
            except OSError:
                continue
    return sizes.pop() if len(sizes) == 1 else None


# --- tensorflow-datasets ------------------------------------------------------------


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class TfdsSource(Source):
    """A tensorflow-datasets dataset, downloaded and prepared on first use."""

    _datasets: dict[str, tf.data.Dataset] = field(default_factory=dict)

    @classmethod
    def open(
        cls, name: str, data_dir: str | None, seed: int, val_split: float, test_split: float
    ) -> TfdsSource:
        import tensorflow_datasets as tfds

        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError:
            raise KVError(
                f"tensorflow-datasets has no dataset '{name}'"
                f"{did_you_mean(name, tfds.list_builders())}"
            ) from None
        if not builder.is_prepared():
            _prepare_or_fail(builder, name, data_dir)
        info = builder.info
        image_key, label_key = _supervised_keys(info, name)
        splits = _tfds_split_names(info, val_split, test_split)
        datasets = {
            split: builder.as_dataset(split=spec, shuffle_files=split == "train").map(
                lambda ex: (ex[image_key], ex[label_key]), num_parallel_calls=_AUTOTUNE
            )
            for split, spec in splits.items()
        }
        shape = info.features[image_key].shape
        return cls(
            name=f"tfds:{name}",
            class_names=list(info.features[label_key].names),
            native_size=(shape[0], shape[1]) if shape[0] and shape[1] else None,
            native_channels=1 if shape[-1] == 1 else 3,
            natural_flip=tfds_natural_flip(name),
            counts={split: info.splits[spec].num_examples for split, spec in splits.items()},
            _datasets=datasets,
        )

    def splits(self, image_size: int, channels: int) -> dict[str, tf.data.Dataset]:
        return {
            split: ds.map(
                lambda x, y: (_to_uint8(tf.cast(x, tf.float32), image_size, channels), y),
                num_parallel_calls=_AUTOTUNE,
            )
            for split, ds in self._datasets.items()
        }


def tfds_natural_flip(name: str) -> bool:
    """Whether a horizontal flip keeps the meaning of tfds ``name``'s images.

    False for digit and character datasets (``mnist``, ``emnist/letters``,
    ``svhn_cropped``, ...), True otherwise.
    """
    base = name.split("/")[0].split(":")[0]
    return base not in _UNFLIPPABLE_TFDS


def _prepare_or_fail(builder, name: str, data_dir: str | None) -> None:
    """Downloads and prepares a tfds dataset, failing in seconds when offline."""
    hosts = sorted({urlparse(url).hostname for url in (builder.url_infos or {})} - {None})
    hosts = hosts or ["storage.googleapis.com"]
    where = data_dir or os.path.join("~", "tensorflow_datasets")
    if not all(_reachable(h) for h in hosts[:3]):
        raise KVError(
            f"tfds:{name} is not prepared in {where} and {hosts[0]} cannot be reached; "
            f"prepare it on a machine with internet (tfds build {name}) and pass "
            f"--data-dir to the folder holding it"
        )
    log.info("downloading and preparing tfds:%s into %s", name, where)
    builder.download_and_prepare()


def _supervised_keys(info, name: str) -> tuple[str, str]:
    import tensorflow_datasets as tfds

    keys = info.supervised_keys
    if keys and len(keys) == 2 and isinstance(keys[0], str):
        return keys[0], keys[1]
    image = [k for k, f in info.features.items() if isinstance(f, tfds.features.Image)]
    label = [k for k, f in info.features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not image or not label:
        raise KVError(f"tfds:{name} has no image and class-label features to classify")
    return image[0], label[0]


def _tfds_split_names(info, val_split: float, test_split: float) -> dict[str, str]:
    """tfds split specs of train/val/test: the dataset's own, else slices of ``train``.

    ``validation`` and ``test`` are used when the dataset has them; a missing
    one is cut from the start of ``train`` (``val_split``, then ``test_split``
    when it is above 0), and training keeps the rest.
    """
    names = set(info.splits.keys())
    if "train" not in names:
        raise KVError(f"dataset has no 'train' split (it has: {', '.join(sorted(names))})")
    out, cut = {}, 0
    if "validation" in names:
        out["val"] = "validation"
    else:
        cut = round(val_split * 100)
        out["val"] = f"train[:{cut}%]"
    if "test" in names:
        out["test"] = "test"
    elif test_split:
        start, cut = cut, cut + round(test_split * 100)
        out["test"] = f"train[{start}%:{cut}%]" if start else f"train[:{cut}%]"
    out["train"] = f"train[{cut}%:]" if cut else "train"
    return out


def open_source(
    spec: str,
    *,
    data_dir: str | None = None,
    seed: int = 42,
    val_split: float = 0.2,
    test_split: float = 0.0,
) -> Source:
    """Opens a dataset spec: ``digits``, ``tfds:NAME`` or a folder path.

    Args:
        spec: What to read. Defaults to none; required.
        data_dir: tensorflow-datasets' data folder. Defaults to None.
        seed: Seed of the split for data without one. Defaults to 42.
        val_split: Validation fraction for data without a validation split.
            Defaults to 0.2.
        test_split: Test fraction for data without a test split. Defaults to 0.0.

    Returns:
        The opened ``Source``.
    """
    if spec == "digits":
        return DigitsSource.open(seed, val_split, test_split)
    if spec.startswith("tfds:"):
        return TfdsSource.open(spec[5:], data_dir, seed, val_split, test_split)
    path = Path(spec).expanduser()
    if path.exists() or os.sep in spec or spec.startswith("."):
        return FolderSource.open(path, seed, val_split, test_split)
    raise KVError(
        f"unknown dataset '{spec}'{did_you_mean(spec, ['digits'])}: use digits, "
        f"tfds:NAME or a folder of class subfolders"
    )
