"""Reading image files into model-ready arrays, outside ``tf.data``.

``kv predict`` and ``kv explain`` take image files and folders, read them with
Pillow (no TensorFlow needed for ``.tflite`` and ``.onnx`` models) and prepare
them as the training pipeline does: RGB or grayscale, resized with an
antialiased bilinear filter to the model's square input, uint8 pixels 0-255.
A file that cannot be read is reported, not fatal.

Decoding is bounded: an image whose header claims more than ``MAX_PIXELS``
is refused before any pixel is decoded (a decompression bomb costs nothing),
except a JPEG, which the decoder itself scales down by 2 to 8 in the DCT
domain (Pillow's ``draft``) when that brings it under the limit.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasvision.errors import KVError

# The folder datasets' extensions (kerasvision.data.IMAGE_EXTENSIONS) and two more
# Pillow reads; kept here so that reading images does not import TensorFlow.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# The most pixels an image may decode to (about 120 MB of RGB): 40 megapixels.
MAX_PIXELS = 40_000_000

log = logging.getLogger(__name__)


@dataclass
class ImageBatch:
    """Images read from files, and the files that could not be read.

    Attributes:
        images: ``(N, H, W, C)`` uint8 pixels, one row per readable file.
        paths: The files behind ``images``, in the same order.
        failures: ``(path, reason)`` for each file that could not be read.
    """

    images: np.ndarray
    paths: list[Path] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)


def find_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Expands files and folders into a list of files.

    A folder contributes every file under it with an image extension
    (``.jpg``, ``.png``, ...), sorted; a file named directly is kept whatever
    its extension, so that a broken one is reported rather than ignored.

    Args:
        inputs: Files and folders.

    Returns:
        The files, in the order given (folders expanded in place).

    Raises:
        KVError: When an input does not exist or a folder holds no images.
    """
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_EXTENSIONS
                and not p.name.startswith(".")
            )
            if not found:
                raise KVError(f"{path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise KVError(f"{path} does not exist")
    return files


def read_image(path: str | Path, size: int | tuple[int, int], channels: int) -> np.ndarray:
    """Reads one image as ``(H, W, channels)`` uint8 pixels at ``size``.

    Args:
        path: An image file Pillow can read (JPEG, PNG, BMP, GIF, ...).
        size: Square side, or ``(height, width)``.
        channels: 1 (grayscale) or 3 (RGB); alpha is dropped.

    Returns:
        The pixels.

    Raises:
        OSError: When the file is not a readable image (``PIL.UnidentifiedImageError``
            is an ``OSError``).
    """
    from PIL import Image

    if channels not in (1, 3):
        raise KVError(f"channels must be 1 or 3, got {channels}")
    height, width = (size, size) if isinstance(size, int) else size
    with open_bounded(path, (width, height), "L" if channels == 1 else "RGB") as image:
        image.seek(0)  # the first frame of an animation, as tf.io.decode_image takes
        image = image.convert("L" if channels == 1 else "RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=None)
        array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def open_bounded(path: str | Path, size: tuple[int, int], mode: str = "RGB"):
    """Opens an image lazily, refusing one that would decode to more than ``MAX_PIXELS``.

    Only the header is read here. A JPEG above the limit is set to decode at
    the smallest DCT scale (1/2 to 1/8) that still covers ``size``.

    Args:
        path: The image file.
        size: The ``(width, height)`` the caller will resize to.
        mode: The mode the caller will convert to. Defaults to ``"RGB"``.

    Returns:
        The open ``PIL.Image.Image`` (use it as a context manager).

    Raises:
        ValueError: When the image is larger than ``MAX_PIXELS`` and cannot be
            decoded smaller.
    """
    from PIL import Image

    with warnings.catch_warnings():  # the size is checked below, against a lower limit
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as error:
            raise ValueError(
                f"refused: more than the {MAX_PIXELS // 1_000_000}-megapixel limit ({error})"
            ) from None
    claimed = (image.width, image.height)
    if claimed[0] * claimed[1] > MAX_PIXELS and image.format == "JPEG":
        image.draft(mode, size)
        log.info("%s is %d x %d pixels: decoded at %d x %d", path, *claimed, *image.size)
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise ValueError(
            f"refused: {claimed[0]} x {claimed[1]} pixels is more than the "
            f"{MAX_PIXELS // 1_000_000}-megapixel limit (a decompression bomb?); resize it first"
        )
    return image


def read_images(
    paths: Iterable[str | Path], input_shape: tuple[int, int, int] | list[int]
) -> ImageBatch:
    """Reads files at a model's input shape, collecting the ones that fail.

    Args:
        paths: Image files.
        input_shape: The model's ``(height, width, channels)``.

    Returns:
        An ``ImageBatch``; unreadable files are in ``failures`` with the reason.
    """
    height, width, channels = (int(d) for d in input_shape)
    images, ok, failures = [], [], []
    for path in map(Path, paths):
        try:
            images.append(read_image(path, (height, width), channels))
            ok.append(path)
        except (OSError, ValueError, SyntaxError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            failures.append((path, reason))
    array = np.stack(images) if images else np.zeros((0, height, width, channels), np.uint8)
    return ImageBatch(array, ok, failures)
