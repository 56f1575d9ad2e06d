"""Deployment checks of a ``.tflite`` file with the consumers that run it on phones.

- ``mediapipe_check``: MediaPipe Tasks' ``ImageClassifier`` (the C++ core of
  Google's Android/iOS/web path; ``pip install mediapipe`` runs it on Linux)
  loads the file, classifies held-out images, and its top-1 is compared with
  LiteRT's; its category names must be the file's ``labels.txt``.
- ``metadata_check``: the file carries standard TFLite metadata
  (``TFLITE_METADATA`` with image properties, normalization and a label file;
  associated files in an uncompressed zip), as any metadata reader expects.

Each returns the registry's ``CheckResult``: ``ok``, ``failed`` (with the
consumer's own message) or ``unavailable`` (the consumer is not installed
here, and why); ``TFLITE_CHECKS`` are the two as the tflite entry runs them.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from kerasvision.artifacts import TFLITE_ENTRY, ModelInfo
from kerasvision.errors import KVError
from kerasvision.export.format import (
    FAILED,
    OK,
    UNAVAILABLE,
    Check,
    CheckContext,
    CheckResult,
    first_line,
)
from kerasvision.export.rgb_input import as_input
from kerasvision.export.tflite_metadata import LABELS_FILE, read_info, read_metadata

MEDIAPIPE = "MediaPipe ImageClassifier"
METADATA = "TFLite metadata"
MIN_AGREEMENT = 0.99
INSTALL_HINT = "pip install -r requirements-consumers.txt"


def file_labels(path: str | Path) -> list[str]:
    """The lines of ``labels.txt`` inside a ``.tflite`` file's zip (empty when there is none)."""
    data = Path(path).read_bytes()
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        return []
    with zipfile.ZipFile(buffer) as archive:
        if LABELS_FILE not in archive.namelist():
            return []
        return archive.read(LABELS_FILE).decode("utf-8").splitlines()


def _mediapipe():
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    return mp, vision, BaseOptions


def mediapipe_classify(path: str | Path, images: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Top-1 class ids and category names of MediaPipe's ``ImageClassifier``.

    Args:
        path: The ``.tflite`` file.
        images: ``(N, H, W, 3)`` RGB pixels 0-255 at the model's input size
            (MediaPipe resizes by itself; an image already of that size goes
            in unchanged, so its top-1 can equal LiteRT's).

    Returns:
        ``(ids, names)``: ``ids`` an int array ``(N,)``; ``names`` the
        ``category_name`` of each (None when the file carries no labels).

    Raises:
        ImportError: When mediapipe is not installed.
        Exception: MediaPipe's own error when it refuses the file.
    """
    mp, vision, base_options = _mediapipe()
    options = vision.ImageClassifierOptions(
        base_options=base_options(model_asset_path=str(path)), max_results=1
    )
    ids, names = [], []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in images:
            pixels = np.ascontiguousarray(np.clip(np.round(image), 0, 255).astype(np.uint8))
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels))
            top = result.classifications[0].categories[0]
            ids.append(top.index)
            names.append(top.category_name)
    return np.asarray(ids, dtype=np.int64), names


def _file_info(path: Path) -> ModelInfo:
    """The file's ``ModelInfo``, or one from its input tensor when it carries none."""
    info = read_info(path)
    if info is not None:
        return info
    from ai_edge_litert.interpreter import Interpreter

    shape = [int(d) for d in Interpreter(model_path=str(path)).get_input_details()[0]["shape"][1:]]
    return ModelInfo(labels=file_labels(path), input_shape=shape, format="tflite")


def _litert_top1(path: Path, info: ModelInfo, images: np.ndarray) -> np.ndarray:
    from kerasvision.predictor import TFLitePredictor

    return TFLitePredictor(path, info).predict(images).argmax(axis=1)


def _model_images(path: Path, info: ModelInfo, images: np.ndarray) -> np.ndarray:
    """``images`` as the file takes them; refuses images of another size."""
    height, width, channels = info.input_shape
    if tuple(images.shape[1:3]) != (height, width):
        raise KVError(
            f"{path.name} takes {height}x{width} images, got {images.shape[1]}x{images.shape[2]}"
        )
    return as_input(images, channels)


def mediapipe_check(
    path: str | Path, images: np.ndarray, *, min_agreement: float = MIN_AGREEMENT
) -> CheckResult:
    """Runs a ``.tflite`` file in MediaPipe's ``ImageClassifier`` and compares it with LiteRT.

    Args:
        path: The ``.tflite`` file (written with ``write_metadata``).
        images: Held-out raw pixels ``(N, H, W, C)`` at the model's input size;
            gray images are fed as RGB to a file that takes RGB.
        min_agreement: Least fraction of images whose top-1 must equal
            LiteRT's. Defaults to 0.99.

    Returns:
        ``ok`` when MediaPipe loads the file, its category names are the
        file's ``labels.txt`` and its top-1 agrees with LiteRT's on at least
        ``min_agreement`` of the images; ``failed`` with MediaPipe's message
        when it refuses the file, or with what differs; ``unavailable`` when
        mediapipe is not installed.

    Raises:
        KVError: For images of another size than the model's.
    """
    path = Path(path)
    info = _file_info(path)
    images = _model_images(path, info, np.asarray(images))
    try:
        _mediapipe()
    except ImportError as error:
        return CheckResult(
            MEDIAPIPE, UNAVAILABLE, f"mediapipe is not installed ({INSTALL_HINT}): {error}"
        )
    try:
        ids, names = mediapipe_classify(path, images)
    except Exception as error:  # MediaPipe raises ValueError, RuntimeError, OSError...
        return CheckResult(MEDIAPIPE, FAILED, f"MediaPipe refused {path.name}: {first_line(error)}")
    agreement = float(np.mean(ids == _litert_top1(path, info, images)))
    labels = file_labels(path)
    wrong = [(i, n) for i, n in zip(ids, names, strict=True) if i >= len(labels) or n != labels[i]]
    if wrong:
        index, name = wrong[0]
        return CheckResult(
            MEDIAPIPE,
            FAILED,
            f"category_name {name!r} of class {index} is not line {index} of {LABELS_FILE} "
            f"({len(wrong)} of {len(ids)} images)",
            agreement,
        )
    status = OK if agreement >= min_agreement else FAILED
    message = (
        f"top-1 equals LiteRT's on {agreement:.2%} of {len(ids)} images (min {min_agreement:.0%})"
    )
    return CheckResult(MEDIAPIPE, status, message, agreement)


def metadata_problems(path: str | Path) -> list[str]:
    """What a standard metadata reader would miss in a ``.tflite`` file (empty: nothing).

    Args:
        path: The ``.tflite`` file.

    Returns:
        One line per problem, e.g. ``the model does not have metadata``.
    """
    try:
        meta = read_metadata(path)
    except KVError as error:
        return [str(error)]
    problems = []
    if not meta["min_parser_version"]:
        problems.append("min_parser_version is not set")
    image = meta["input"] or {}
    if not image.get("color_space"):
        problems.append("the input tensor has no ImageProperties")
    if meta["input_type"] == "float32" and "normalization" not in image:
        problems.append("the float32 input has no NormalizationOptions")
    if LABELS_FILE not in meta["label_files"]:
        problems.append(f"the output tensor has no {LABELS_FILE} as TENSOR_AXIS_LABELS")
    named = meta["label_files"] + [f["name"] for f in meta["associated_files"]]
    for name in named:
        if name not in meta["zip"]:
            problems.append(f"{name} is named in the metadata but not in the file's zip")
        elif meta["zip"][name] != "stored":
            problems.append(f"{name} is {meta['zip'][name]}; MediaPipe needs an uncompressed zip")
    info = read_info(path)
    if info is not None and LABELS_FILE in meta["zip"] and file_labels(path) != info.labels:
        problems.append(f"{LABELS_FILE} differs from the labels of {TFLITE_ENTRY}")
    return problems


def metadata_check(path: str | Path) -> CheckResult:
    """Checks that a ``.tflite`` file carries standard TFLite metadata.

    Args:
        path: The ``.tflite`` file.

    Returns:
        ``ok`` when ``TFLITE_METADATA`` has image properties,
        normalization (for float32 input), ``min_parser_version`` and a label
        file, and every associated file is in the uncompressed zip;
        ``failed`` with the problems otherwise (a stripped file included).
    """
    problems = metadata_problems(path)
    if problems:
        return CheckResult(METADATA, FAILED, "; ".join(problems))
    meta = read_metadata(path)
    image = meta["input"]
    return CheckResult(
        METADATA,
        OK,
        f"TFLITE_METADATA {meta['min_parser_version']}: {image['color_space']} "
        f"{meta['input_type']} input, normalization {image.get('normalization')}, "
        f"labels {', '.join(meta['label_files'])}",
    )


def _run_mediapipe(path: Path, context: CheckContext) -> CheckResult:
    options = context.options
    if context.precision == "int8" and options.io_type == "int8":
        why = "io_type int8 was asked for; MediaPipe takes uint8 or float32 input"
        return CheckResult(MEDIAPIPE, UNAVAILABLE, f"not for MediaPipe: {why}")
    if options.input_channels == 1:
        why = "input_channels 1 keeps the gray input; MediaPipe takes RGB only"
        return CheckResult(MEDIAPIPE, UNAVAILABLE, f"not for MediaPipe: {why}")
    return mediapipe_check(path, context.images)


def _run_metadata(path: Path, context: CheckContext) -> CheckResult:
    return metadata_check(path)


TFLITE_CHECKS = (Check(METADATA, _run_metadata), Check(MEDIAPIPE, _run_mediapipe))
