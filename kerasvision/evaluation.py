"""Evaluation of any model artifact on labelled images: ``evaluate`` and its metrics.

``compute_metrics`` turns true labels and predicted probabilities into
accuracy, top-5, per-class precision/recall/F1, their macro and weighted
averages, one-vs-rest ROC AUC, the confusion matrix and the most confused
class pairs, all with scikit-learn. ``evaluate`` opens a model (any format,
through ``kerasvision.predictor``), streams the held-out split of a run's data
(or of any dataset spec) through it and writes ``metrics.json`` and
``confusion_matrix.png``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerasvision.errors import KVError, bad_value
from kerasvision.fileio import atomic_path, write_json
from kerasvision.heldout import HeldOut, display_labels, heldout
from kerasvision.run import METRICS, Run

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Metrics of one model on one set of labelled images.

    Attributes:
        labels: Class names, index = class id.
        images: How many images were evaluated.
        accuracy: Top-1 accuracy (0-1).
        top5: Top-k accuracy with k = min(5, classes).
        per_class: One dict per class: ``label``, ``precision``, ``recall``,
            ``f1``, ``support`` and one-vs-rest ``roc_auc`` (None where the
            class has no positive or no negative images).
        macro: Unweighted mean ``precision``, ``recall``, ``f1`` and ``roc_auc``
            over classes.
        weighted: The same averages weighted by support.
        confusion: Confusion matrix, rows = true class, columns = predicted.
        most_confused: The largest off-diagonal cells: ``true``, ``predicted``,
            ``count`` and ``rate`` (fraction of the true class).
        model: The artifact evaluated.
        format: Its format.
        precision: Its precision.
        dataset: The data spec and split evaluated on.
        seconds: Wall time of reading and predicting.
        images_per_s: ``images / seconds``.
        tta: The test-time augmentation the probabilities were averaged over
            (``kerasvision.tta``). Defaults to ``none``.
    """

    labels: list[str]
    images: int
    accuracy: float
    top5: float
    per_class: list[dict[str, Any]]
    macro: dict[str, float | None]
    weighted: dict[str, float | None]
    confusion: list[list[int]]
    most_confused: list[dict[str, Any]]
    model: str = ""
    format: str = ""
    precision: str = ""
    dataset: str = ""
    seconds: float = 0.0
    images_per_s: float = 0.0
    tta: str = "none"

    @property
    def top_k(self) -> int:
        return min(5, len(self.labels))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def top_k_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among the ``k`` highest probabilities."""
    from sklearn.metrics import top_k_accuracy_score

    if k >= probs.shape[1]:
        return 1.0
    return float(top_k_accuracy_score(y_true, probs, k=k, labels=np.arange(probs.shape[1])))


def one_vs_rest_auc(y_true: np.ndarray, probs: np.ndarray) -> list[float | None]:
    """ROC AUC of each class against the rest (None where it is undefined).

    This is what ``roc_auc_score(multi_class="ovr")`` averages, computed class
    by class so that it works when a class is missing from ``y_true`` and when
    the rows of quantized outputs do not sum exactly to one.
    """
    from sklearn.metrics import roc_auc_score

    out: list[float | None] = []
    for k in range(probs.shape[1]):
        positive = y_true == k
        if positive.all() or not positive.any():
            out.append(None)
        else:
            out.append(float(roc_auc_score(positive, probs[:, k])))
    return out


def most_confused(confusion: np.ndarray, labels: list[str], n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` largest off-diagonal cells of a confusion matrix.

    Args:
        confusion: ``(K, K)`` counts, rows = true class.
        labels: Class names.
        n: How many pairs. Defaults to 5.

    Returns:
        Dicts with ``true``, ``predicted``, ``count`` and ``rate`` (the count
        over the true class's images), largest count first; ties in the
        order of the matrix. Cells with a zero count are left out.
    """
    confusion = np.asarray(confusion)
    support = confusion.sum(axis=1)
    cells = [
        (int(confusion[i, j]), i, j)
        for i in range(len(confusion))
        for j in range(len(confusion))
        if i != j and confusion[i, j] > 0
    ]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [
        {
            "true": labels[i],
            "predicted": labels[j],
            "count": count,
            "rate": round(count / support[i], 6),
        }
        for count, i, j in cells[:n]
    ]


def _mean(values: list[float | None], weights: np.ndarray | None = None) -> float | None:
    """Mean of the defined values, optionally weighted; None when none is defined."""
    keep = [i for i, value in enumerate(values) if value is not None]
    w = np.ones(len(keep)) if weights is None else np.asarray(weights, np.float64)[keep]
    if not keep or w.sum() == 0:
        return None
    return float(np.average([values[i] for i in keep], weights=w))


def compute_metrics(
    y_true: np.ndarray, probs: np.ndarray, labels: list[str], *, pairs: int = 5
) -> Evaluation:
    """Classification metrics of predicted probabilities against true labels.

    Args:
        y_true: True class ids ``(N,)``.
        probs: Predicted probabilities ``(N, K)``.
        labels: The ``K`` class names.
        pairs: How many most-confused pairs to list. Defaults to 5.

    Returns:
        An ``Evaluation`` (without timing or model facts).

    Raises:
        KVError: When the shapes disagree or there are no images.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true).astype(np.int64).ravel()
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise KVError(f"expected probabilities of shape (N, {len(labels)}), got {probs.shape}")
    if len(y_true) != len(probs):
        raise KVError(f"{len(y_true)} labels for {len(probs)} predictions")
    if not len(y_true):
        raise KVError("no images to evaluate")
    classes = np.arange(len(labels))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    auc = one_vs_rest_auc(y_true, probs)
    per_class = [
        {
            "label": labels[k],
            "precision": round(float(precision[k]), 6),
            "recall": round(float(recall[k]), 6),
            "f1": round(float(f1[k]), 6),
            "support": int(support[k]),
            "roc_auc": None if auc[k] is None else round(auc[k], 6),
        }
        for k in classes
    ]
    averages = {}
    for name, weights in (("macro", None), ("weighted", support)):
        averages[name] = {}
        for metric, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            if weights is None:
                averages[name][metric] = round(float(np.mean(values)), 6)
            else:
                averages[name][metric] = round(float(np.average(values, weights=weights)), 6)
        mean_auc = _mean(auc, weights)
        averages[name]["roc_auc"] = None if mean_auc is None else round(mean_auc, 6)
    confusion = confusion_matrix(y_true, y_pred, labels=classes)
    return Evaluation(
        labels=list(labels),
        images=len(y_true),
        accuracy=round(float(np.mean(y_pred == y_true)), 6),
        top5=round(top_k_accuracy(y_true, probs, 5), 6),
        per_class=per_class,
        macro=averages["macro"],
        weighted=averages["weighted"],
        confusion=confusion.tolist(),
        most_confused=most_confused(confusion, list(labels), pairs),
    )


def plot_confusion_matrix(
    confusion: np.ndarray | list[list[int]], labels: list[str], path: str | Path, title: str = ""
) -> Path:
    """Draws a confusion matrix (counts, rows = true class) to a PNG, atomically.

    Args:
        confusion: ``(K, K)`` counts.
        labels: Class names.
        path: The PNG to write.
        title: Figure title. Defaults to "".

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    confusion = np.asarray(confusion)
    k = len(labels)
    side = min(max(4.5, 0.5 * k + 2.5), 30)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    display = ConfusionMatrixDisplay(confusion_matrix=confusion, display_labels=labels)
    display.plot(
        ax=ax,
        cmap="Blues",
        xticks_rotation="vertical" if k > 6 else "horizontal",
        include_values=k <= 20,
        values_format="d",
        colorbar=k > 20,
    )
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


# --- running a model over its held-out images -------------------------------


def limit_tf_threads(threads: int) -> None:
    """Runs TensorFlow ops on ``threads`` CPU threads (before TensorFlow starts working)."""
    from kerasvision.backend import tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialized: keep its threads
        log.warning("TensorFlow is already running; --threads does not apply to it")


def default_output(model_path: Path, run: Run | None) -> Path:
    """``RUN/eval/<artifact>/`` for a model in a run, else ``<model folder>/eval/<artifact>/``."""
    if run is not None:
        return run.eval_folder(model_path)
    return Run(model_path.resolve().parent).eval_folder(model_path)


def run_predictor(
    predictor,
    data: HeldOut,
    progress: Callable[[int], None] | None = None,
    tta: str = "none",
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(true class ids, probabilities, seconds)`` of a predictor over ``data``.

    With ``tta`` the probabilities are averaged over its views (``predict_tta``).
    """
    from kerasvision.tta import predict_tta

    truths, outputs = [], []
    start = time.perf_counter()
    for images, labels in data.batches():
        outputs.append(predict_tta(predictor, images, tta, batch_size=len(images)))
        truths.append(labels)
        if progress is not None:
            progress(len(labels))
    seconds = time.perf_counter() - start
    if not truths:
        raise KVError(f"no images to evaluate in {data.description}")
    return np.concatenate(truths), np.concatenate(outputs), seconds


def evaluate(
    model: str | Path,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    split: str | None = None,
    threads: int | None = None,
    batch_size: int = 64,
    out: str | Path | None = None,
    pairs: int = 5,
    progress: Callable[[int], Callable[[int], None]] | None = None,
    key=None,
    verify_hash: bool = True,
    unsafe: bool = False,
    tta: str = "none",
) -> tuple[Evaluation, Path | None]:
    """Evaluates a model artifact and writes ``metrics.json`` and ``confusion_matrix.png``.

    Args:
        model: A run directory (its final model), a ``.keras`` file, a
            SavedModel folder, or a ``.tflite``, ``.onnx`` or ``.engine`` file.
        dataset: Data to evaluate on. Defaults to None (the run's dataset).
        data_dir: tensorflow-datasets' data folder. Defaults to None (the run's).
        split: ``held-out`` (test if the data has one, else validation),
            ``test``, ``val``, ``train`` or ``all``. Defaults to None:
            ``held-out`` of the run's own data, ``all`` of any other dataset.
        threads: CPU threads of the runtime. Defaults to None (its choice).
        batch_size: Images per call. Defaults to 64.
        out: Folder for the results; ``""`` writes nothing. Defaults to None
            (``RUN/eval/<artifact>/``).
        pairs: Most-confused pairs to list. Defaults to 5.
        progress: Called once with the number of images; returns a callback
            that receives the size of each finished batch. Defaults to None.
        key: AES key file of an encrypted ``.enc`` model. Defaults to None
            (``KV_MODEL_KEY``).
        verify_hash: Refuse a model that differs from the ``manifest.json``
            beside it. Defaults to True.
        unsafe: Let a Keras file run Python code (``Lambda``). Defaults to False.
        tta: Average each image's prediction over ``flip`` or
            ``flip_translate`` views (``kerasvision.tta``). Defaults to ``none``.

    Returns:
        ``(Evaluation, output folder or None)``.
    """
    from kerasvision.artifact import resolve

    if batch_size < 1:
        raise bad_value("batch_size", f"must be at least 1, got {batch_size}")
    from kerasvision.tta import check_tta

    check_tta(tta)
    if threads is not None and threads < 1:
        raise bad_value("threads", f"must be at least 1, got {threads}")
    artifact, run = resolve(model, threads=threads, key=key, verify_hash=verify_hash, unsafe=unsafe)
    folder = None
    if out != "":
        folder = Path(out) if out else default_output(artifact.path, run)
        if folder.exists() and not folder.is_dir():
            raise bad_value("out", f"{folder} is a file, not a folder")
    if threads and artifact.format in ("keras", "saved_model"):
        limit_tf_threads(threads)
    predictor = artifact.predictor
    data = heldout(
        predictor.input_shape,
        predictor.labels,
        run=run,
        dataset=dataset,
        data_dir=data_dir,
        split=split,
        batch_size=batch_size,
    )
    labels = display_labels(predictor.labels, data.class_names)
    step = progress(data.count) if progress else None
    truth, probs, seconds = run_predictor(predictor, data, step, tta=tta)
    result = compute_metrics(truth, probs, labels, pairs=pairs)
    result.tta = tta
    result.model = str(artifact.path)
    result.format = predictor.format
    result.precision = predictor.info.precision
    result.dataset = data.description
    result.seconds = round(seconds, 3)
    result.images_per_s = round(result.images / seconds, 1) if seconds > 0 else 0.0
    if folder is not None:
        write_results(result, folder)
    return result, folder


def write_results(result: Evaluation, folder: str | Path) -> Path:
    """Writes ``metrics.json`` and ``confusion_matrix.png`` into ``folder``."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise bad_value("out", f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    title = f"{Path(result.model).name} on {result.dataset}"
    plot_confusion_matrix(result.confusion, result.labels, folder / "confusion_matrix.png", title)
    write_json(folder / METRICS, result.to_dict())
    return folder


def read_results(folder: str | Path) -> Evaluation:
    """The ``Evaluation`` stored by ``write_results``."""
    data = json.loads((Path(folder) / METRICS).read_text(encoding="utf-8"))
    names = {f.name for f in dataclasses.fields(Evaluation)}
    return Evaluation(**{k: v for k, v in data.items() if k in names})


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
