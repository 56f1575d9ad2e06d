"""ImageNet weights of ``keras.applications`` backbones, from Keras' own cache.

``--weights imagenet`` looks for the no-top file where Keras keeps it
(``~/.keras/models/<file name>``; Keras itself falls back to
``/tmp/.keras/models`` when ``~/.keras`` is not writable) and loads it with
no hash check, so a file copied there from another machine is used. Only when
it is missing does Keras download it; offline that fails in a second or two,
and the error names the file, the folder and the URL.
"""

from __future__ import annotations

import os
from pathlib import Path

from kerasvision.backend import keras
from kerasvision.errors import KVError, bad_value


def keras_models_dir() -> Path:
    """The folder ``tf_keras.utils.get_file(..., cache_subdir="models")`` uses."""
    base = Path(os.path.expanduser("~")) / ".keras"
    if not os.access(base, os.W_OK):
        base = Path("/tmp") / ".keras"
    return base / "models"


def _candidates(file_name: str) -> list[Path]:
    folders = [Path(os.path.expanduser("~")) / ".keras" / "models", keras_models_dir()]
    return list(dict.fromkeys(folder / file_name for folder in folders))


def download(url: str, file_name: str) -> Path:
    """Downloads ``url`` into Keras' cache as ``file_name`` (``keras.utils.get_file``)."""
    return Path(keras.utils.get_file(file_name, url, cache_subdir="models"))


def imagenet_file(url: str, model: str, file_name: str | None = None) -> Path:
    """The local no-top ImageNet weights file of ``url``: cached, or downloaded now.

    Args:
        url: The file Keras downloads (its ``WEIGHTS_PATH_NO_TOP``).
        model: The registered model name, for the error message.
        file_name: The name Keras caches it under. Defaults to None (the
            URL's last part).

    Raises:
        KVError: When the file is not cached and cannot be downloaded.
    """
    file_name = file_name or url.rsplit("/", 1)[-1]
    for path in _candidates(file_name):
        if path.is_file():
            return path
    try:
        return download(url, file_name)
    except Exception as exc:  # keras raises bare Exception on a failed download
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        folder = _candidates(file_name)[0].parent
        raise KVError(
            f"could not download ImageNet weights for {model} ({first}); put {file_name} "
            f"(from {url}) in {folder}/ or pass --weights PATH, or use --weights none"
        ) from None


def check_weights(weights: str, input_shape: tuple[int, int, int], model: str) -> None:
    """Checks a ``--weights`` value: ``none``, ``imagenet`` or an existing file."""
    if weights == "none":
        return
    if weights != "imagenet" and not Path(weights).is_file():
        raise bad_value(
            "weights", f"must be none, imagenet or a weights file; not found: {weights}"
        )
    if input_shape[-1] != 3:
        kind = "ImageNet" if weights == "imagenet" else "pretrained"
        raise KVError(f"{model} with {kind} weights needs 3 channels, got {input_shape[-1]}")


def load_into(backbone, path: Path | str, model: str) -> None:
    """Loads a Keras weights file into ``backbone``; a file that does not fit is a KVError."""
    try:
        backbone.load_weights(str(path))
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KVError(f"cannot load weights from {path} into {model}: {first}") from None
