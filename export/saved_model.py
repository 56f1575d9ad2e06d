"""SavedModel: a ``serving_default`` signature from pixels to probabilities; registry entry.

The folder is written in TF Serving's layout, ``<stem>_saved_model/<version>/``
(``serving_version``, default 1), so ``tensorflow_model_server
--model_base_path=$PWD/<stem>_saved_model`` serves it as written. Readers take
both that layout and a bare SavedModel folder.
"""

from __future__ import annotations

from pathlib import Path

from kerasvision.artifacts import SAVED_MODEL_ENTRY, ModelInfo
from kerasvision.errors import KVError
from kerasvision.export.format import (
    FAILED,
    OK,
    Check,
    CheckContext,
    CheckResult,
    ExportJob,
    Format,
)
from kerasvision.fileio import atomic_path

SIGNATURE, INPUT, OUTPUT = "serving_default", "image", "probs"


def serving_dir(path: Path) -> Path | None:
    """The folder holding ``saved_model.pb``: ``path`` itself or its highest numeric version."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = [p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    return max(versions, key=lambda p: int(p.name)) if versions else None


def is_saved_model(path: Path) -> bool:
    """Whether ``path`` is a SavedModel folder, bare or with version folders."""
    return path.is_dir() and serving_dir(path) is not None


def read_info(path: Path) -> ModelInfo | None:
    """The ``ModelInfo`` in ``assets.extra/kerasvision.json``, or None."""
    folder = serving_dir(path)
    meta = folder / SAVED_MODEL_ENTRY if folder else None
    if meta is None or not meta.is_file():
        return None
    return ModelInfo.from_json(meta.read_text(encoding="utf-8"))


def export(model, path: Path, job: ExportJob) -> Path:
    """Writes ``model`` as ``path/<version>/``, a SavedModel for TF Serving or Python.

    The signature ``serving_default`` takes ``image`` (float32 ``[N, H, W, C]``,
    raw 0-255 pixels) and returns ``probs``; the metadata JSON is in
    ``assets.extra/kerasvision.json``.

    Args:
        model: The Keras model.
        path: The folder to write.
        job: Metadata and options (``serving_version``); precision is fp32.

    Returns:
        ``path``.
    """
    from kerasvision.backend import tf

    shape = (None, *job.info.input_shape)

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name=INPUT)])
    def serve(image):
        return {OUTPUT: model(image, training=False)}

    with atomic_path(path, is_dir=True) as tmp:
        version = tmp / str(job.options.serving_version)
        tf.saved_model.save(model, str(version), signatures={SIGNATURE: serve})
        meta = version / SAVED_MODEL_ENTRY
        meta.parent.mkdir(exist_ok=True)
        meta.write_text(job.info.replace(format="saved_model", precision=job.precision).to_json())
    return path


def signature_check(path: Path, context: CheckContext) -> CheckResult:
    """Loads the ``serving_default`` signature as TF Serving would and runs it."""
    from kerasvision.backend import tf

    name = "SavedModel signature"
    folder = serving_dir(path)
    if folder is None or folder == path:
        return CheckResult(name, FAILED, "no numeric version folder: TF Serving cannot load it")
    try:
        function = tf.saved_model.load(str(folder)).signatures[SIGNATURE]
    except (KeyError, OSError, ValueError) as error:
        return CheckResult(name, FAILED, f"cannot load {SIGNATURE}: {error}")
    spec = function.structured_input_signature[1].get(INPUT)
    want = [None, *context.info.input_shape]
    if spec is None or spec.dtype != tf.float32 or spec.shape.as_list() != want:
        return CheckResult(name, FAILED, f"input '{INPUT}' is {spec}, expected float32 {want}")
    probs = function(**{INPUT: tf.constant(context.images[:64], tf.float32)})[OUTPUT].numpy()
    same = float((probs.argmax(1) == context.reference[: len(probs)].argmax(1)).mean())
    if same < 1.0 - 1e-9 and context.precision == "fp32":
        return CheckResult(name, FAILED, f"top-1 agrees with Keras on {same:.1%} only")
    return CheckResult(name, OK, f"{folder.name}/{SIGNATURE}: {INPUT} -> {OUTPUT}, top-1 agrees")


def _predictor(path: Path, info: ModelInfo, threads: int | None = None):
    from kerasvision.predictor import SavedModelPredictor

    folder = serving_dir(path)
    if folder is None:
        raise KVError(f"{path} is a folder but not a SavedModel (no saved_model.pb)")
    return SavedModelPredictor(path, info, folder)


FORMAT = Format(
    name="saved_model",
    suffixes=("",),
    precisions=("fp32",),
    runtime="TensorFlow",
    predictor=_predictor,
    read_info=read_info,
    export=export,
    options={"serving_version": ("fp32",)},
    checks=(Check("SavedModel signature", signature_check),),
    matches=is_saved_model,
)
