"""SavedModel export: a ``serving_default`` signature from pixels to probabilities."""

from __future__ import annotations

from pathlib import Path

from kerasvision.artifacts import SAVED_MODEL_ENTRY, ModelInfo
from kerasvision.backend import tf
from kerasvision.fileio import atomic_path


def export_saved_model(model, path: Path, *, info: ModelInfo, precision: str = "fp32") -> Path:
    """Writes ``model`` as a SavedModel folder for TensorFlow Serving or ``tf.saved_model.load``.

    The signature ``serving_default`` takes ``image`` (float32 ``[N, H, W, C]``,
    raw 0-255 pixels) and returns ``probs``; the metadata JSON is in
    ``assets.extra/kerasvision.json``.

    Args:
        model: The Keras model.
        path: The folder to write.
        info: Labels and input shape.
        precision: Only ``fp32``. Defaults to ``"fp32"``.

    Returns:
        ``path``.
    """
    shape = (None, *info.input_shape)

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="image")])
    def serve(image):
        return {"probs": model(image, training=False)}

    with atomic_path(path, is_dir=True) as tmp:
        tf.saved_model.save(model, str(tmp), signatures={"serving_default": serve})
        meta = tmp / SAVED_MODEL_ENTRY
        meta.parent.mkdir(exist_ok=True)
        meta.write_text(info.replace(format="saved_model", precision=precision).to_json())
    return path
