"""Grad-CAM (Selvaraju et al. 2017): where a Keras model looked to pick a class.

The gradient of the class's logit with respect to a convolutional feature
map, averaged over space, weighs that map's channels; the ReLU of the weighted
sum is the heatmap. The feature map is the last layer with a spatial (4-D)
output that is not a pooling layer, found automatically, or a layer named
with ``layer=``. For models built around a nested backbone (``resnet50``,
``mobilenet_v2``: ``backbone`` pools its output), the last spatial layer
inside the backbone is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasvision import _compat
from kerasvision.backend import keras, tf
from kerasvision.errors import KVError
from kerasvision.fileio import atomic_path


@dataclass
class GradCAM:
    """Heatmaps for a batch of images.

    Attributes:
        heatmaps: ``(N, h, w)`` in [0, 1] at the feature map's resolution.
        classes: The class explained for each image.
        probs: The model's probabilities ``(N, K)``.
        layer: The feature layer used (``backbone/name`` inside a nested model).
    """

    heatmaps: np.ndarray
    classes: np.ndarray
    probs: np.ndarray
    layer: str


def _is_spatial(layer) -> bool:
    try:
        shape = layer.output_shape
    except (AttributeError, RuntimeError):
        return False
    return isinstance(shape, tuple) and len(shape) == 4


_NOT_FEATURES = (
    keras.layers.InputLayer,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.Dropout,
)


def _is_feature_map(layer) -> bool:
    """A spatial output that is not an input, a pooling or a dropout layer."""
    return _is_spatial(layer) and not isinstance(layer, _NOT_FEATURES)


def _spatial_layers(model) -> list:
    return [layer for layer in model.layers if _is_feature_map(layer)]


def find_target_layer(model, name: str | None = None) -> tuple[object | None, object]:
    """``(nested model or None, feature layer)`` to explain ``model`` with.

    Args:
        model: A Keras functional model.
        name: A layer name; ``backbone/name`` reaches into a nested model.
            Defaults to None (the last spatial layer).

    Raises:
        KVError: When the layer is unknown or has no spatial output.
    """
    if name:
        outer_name, _, inner_name = name.rpartition("/")
        owner = model
        if outer_name:
            owner = _get_layer(model, outer_name)
            if not isinstance(owner, keras.Model):
                raise KVError(f"layer '{outer_name}' is not a nested model")
        layer = _get_layer(owner, inner_name)
        if not _is_spatial(layer):
            raise KVError(
                f"layer '{name}' has output shape {layer.output_shape}; Grad-CAM needs a "
                "convolutional (height, width, channels) output"
            )
        return (owner if outer_name else None), layer
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model):
            if _is_spatial(layer):
                return None, layer
            inner = _spatial_layers(layer)
            if inner:
                return layer, inner[-1]
        elif _is_feature_map(layer):
            return None, layer
    raise KVError(f"{model.name} has no convolutional layer to explain")


def _get_layer(model, name: str):
    try:
        return model.get_layer(name)
    except ValueError:
        names = [layer.name for layer in model.layers if _is_spatial(layer)]
        raise KVError(
            f"no layer '{name}' in {model.name}; spatial layers: {', '.join(names[-8:])}"
        ) from None


def _chain(model) -> list:
    """The model's layers after the input when they form a single chain, else raise."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.layers[0]
    for layer in layers:
        if previous not in _compat.inbound_layers(layer) or len(model.inputs) != 1:
            raise KVError(
                f"Grad-CAM inside '{layer.name}' needs {model.name} to be a plain chain of "
                "layers; pass --layer with one of its own spatial layers"
            )
        previous = layer
    return layers


def _ends_in_softmax(model) -> bool:
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return isinstance(last, keras.layers.Activation) and activation is keras.activations.softmax


def _forward(model, nested, layer):
    """A function ``images -> (feature map, class scores, probabilities)`` for ``layer``.

    The class scores are the logits (the input of a final softmax) when the
    model ends in one, as Grad-CAM prescribes, else the outputs.
    """
    softmax = _ends_in_softmax(model)
    if nested is None:
        scores = model.layers[-1].input if softmax else model.output
        both = keras.Model(model.inputs, [layer.output, scores, model.output])
        return lambda x: both(x, training=False)
    inner = keras.Model(nested.inputs, [layer.output, nested.output])
    chain = _chain(model)

    def run(x):
        features = scores = None
        for step in chain:
            if step is nested:
                features, x = inner(x, training=False)
            else:
                scores = x
                x = step(x, training=False)
        return features, (scores if softmax else x), x

    return run


def grad_cam(
    model,
    images: np.ndarray,
    *,
    class_index: int | list[int] | None = None,
    layer: str | None = None,
) -> GradCAM:
    """Grad-CAM heatmaps of ``model`` for ``images``.

    Args:
        model: A Keras model taking raw pixels and returning probabilities.
        images: ``(N, H, W, C)`` or ``(H, W, C)`` raw pixels.
        class_index: The class to explain, one per image or one for all.
            Defaults to None (each image's top-1 class).
        layer: The feature layer's name (``backbone/name`` inside a nested
            model). Defaults to None (the last spatial layer).

    Returns:
        A ``GradCAM``.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    classes_known = int(model.output_shape[-1])
    if class_index is not None:
        bad = [int(c) for c in np.ravel(class_index) if not 0 <= int(c) < classes_known]
        if bad:
            raise KVError(f"class {bad[0]} is out of range: the model has {classes_known} classes")
    nested, target = find_target_layer(model, layer)
    forward = _forward(model, nested, target)
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        features, scores, probs = forward(x)
        probs = tf.cast(probs, tf.float32)
        if class_index is None:
            classes = tf.argmax(probs, axis=1)
        else:
            classes = tf.constant(np.broadcast_to(class_index, (len(images),)), tf.int64)
        score = tf.gather(tf.cast(scores, tf.float32), classes, axis=1, batch_dims=1)
    grads = tape.gradient(score, features)
    weights = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1)).numpy()
    peak = cam.max(axis=(1, 2), keepdims=True)
    cam = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    name = f"{nested.name}/{target.name}" if nested is not None else target.name
    return GradCAM(cam, classes.numpy(), probs.numpy(), name)


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A ``(h, w)`` heatmap resized bilinearly to ``(height, width)``, in [0, 1]."""
    resized = tf.image.resize(heatmap[..., None], size, method="bilinear").numpy()[..., 0]
    return np.clip(resized, 0.0, 1.0)


def overlay(
    image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45, min_side: int = 224
) -> np.ndarray:
    """Blends a heatmap (``jet`` colours) over an image.

    Args:
        image: ``(H, W, C)`` pixels 0-255 (1 or 3 channels).
        heatmap: ``(h, w)`` in [0, 1].
        alpha: Weight of the heatmap. Defaults to 0.45.
        min_side: Small images are enlarged so their shorter side is at least
            this many pixels. Defaults to 224.

    Returns:
        ``(H', W', 3)`` uint8 RGB.
    """
    import matplotlib

    if not 0.0 <= alpha <= 1.0:
        raise KVError(f"alpha must be in [0, 1], got {alpha}")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    height, width = image.shape[:2]
    scale = max(1, int(np.ceil(min_side / min(height, width))))
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)  # keep pixels crisp
    heat = upsample(heatmap, image.shape[:2])
    colours = matplotlib.colormaps["jet"](heat)[..., :3] * 255.0
    blended = (1.0 - alpha) * image + alpha * colours
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Writes an RGB uint8 array as a PNG, atomically."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return path


@dataclass
class Explanation:
    """What ``explain_image`` wrote.

    Attributes:
        output: The overlay PNG.
        label: The class explained.
        probability: The model's probability for it.
        predicted: The model's top-1 class.
        layer: The feature layer used.
    """

    output: Path
    label: str
    probability: float
    predicted: str
    layer: str


def explain_image(
    model: str | Path,
    image: str | Path,
    *,
    label: str | None = None,
    layer: str | None = None,
    out: str | Path | None = None,
    alpha: float = 0.45,
) -> Explanation:
    """Writes a Grad-CAM overlay of one image file as a PNG.

    Args:
        model: A ``.keras``/``.h5`` file or a run directory (Grad-CAM needs
            the Keras model's gradients).
        image: The image file.
        label: The class to explain, by name or index. Defaults to None (top-1).
        layer: The feature layer. Defaults to None (the last spatial layer).
        out: The PNG to write. Defaults to None (``<image stem>-gradcam.png``
            in the current folder).
        alpha: Weight of the heatmap in the overlay. Defaults to 0.45.

    Returns:
        The ``Explanation``.
    """
    from kerasvision.artifact import resolve
    from kerasvision.images import read_image

    artifact, _ = resolve(model)
    if artifact.format != "keras":
        raise KVError(
            f"Grad-CAM needs a Keras model's gradients; {artifact.path.name} is "
            f"{artifact.format}: point kv explain at the .keras file or the run"
        )
    image = Path(image)
    if not image.is_file():
        raise KVError(f"{image} does not exist")
    predictor = artifact.predictor
    labels = predictor.labels
    try:
        pixels = read_image(image, predictor.input_shape[:2], predictor.input_shape[2])
    except OSError as error:
        raise KVError(f"cannot read {image}: {str(error).splitlines()[0]}") from None
    index = None if label is None else _class_index(label, labels)
    cam = grad_cam(predictor.model, pixels, class_index=index, layer=layer)
    explained = int(cam.classes[0])
    output = Path(out) if out else Path(f"{image.stem}-gradcam.png")
    save_png(overlay(pixels, cam.heatmaps[0], alpha=alpha), output)
    return Explanation(
        output=output,
        label=labels[explained],
        probability=float(cam.probs[0, explained]),
        predicted=labels[int(cam.probs[0].argmax())],
        layer=cam.layer,
    )


def _class_index(label: str, labels: list[str]) -> int:
    if label in labels:
        return labels.index(label)
    if label.isdigit() and int(label) < len(labels):
        return int(label)
    from kerasvision.errors import unknown

    raise unknown("class", label, labels)
