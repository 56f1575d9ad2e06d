"""The Python API that the ``kv`` commands are thin calls of.

``kerasvision.train`` returns a ``Run``; ``kerasvision.export_run`` returns ``Artifact``s;
``Artifact.predict`` runs one; ``kerasvision.evaluate`` measures any model on
its held-out images. Everything here imports TensorFlow only when it is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasvision.artifact import Artifact
    from kerasvision.config import TrainConfig
    from kerasvision.evaluation import Evaluation
    from kerasvision.run import Run


SMALL_IMAGES = 64
SMALL_IMAGE_RECIPE = "cifar10-fast"


def default_recipe(overrides: dict[str, Any]) -> str | None:
    """The recipe for a run given no recipe: ``cifar10-fast`` for a folder of small images.

    A folder whose images share a size of at most 64 x 64 pixels trains the
    fast teacher recipe, unless the overrides name a model; anything else
    keeps the plain defaults (``simple_cnn``).

    Args:
        overrides: The config keys given (``dataset``, ``model``, ...).
    """
    from kerasvision.data.sources import folder_image_size

    dataset = overrides.get("dataset")
    if not isinstance(dataset, str) or overrides.get("model"):
        return None
    size = folder_image_size(dataset)
    return SMALL_IMAGE_RECIPE if size and max(size) <= SMALL_IMAGES else None


def make_config(config: TrainConfig | str | None = None, **keywords: Any) -> TrainConfig:
    """A validated ``TrainConfig`` from a config, a recipe, or neither, and keyword overrides.

    Args:
        config: A ``TrainConfig``, a shipped recipe's name (``"digits-edge"``)
            or a YAML file. Defaults to None (``default_recipe``: the fast
            recipe for a folder of small images, else the defaults).
        **keywords: Config keys to set last; nested sections as dicts
            (``augment={"mixup": 0.2}``).

    Returns:
        The ``TrainConfig``.
    """
    from kerasvision.config import TrainConfig, build_config, override_config

    if isinstance(config, TrainConfig):
        return override_config(config, keywords) if keywords else config.validate()
    if config is None:
        config = default_recipe(keywords)
    return build_config(config, keywords or None)


def train(
    config: TrainConfig | str | None = None, *, overwrite: bool = False, **keywords: Any
) -> Run:
    """Trains as ``kv train`` does and returns the run directory.

    Args:
        config: A ``TrainConfig``, a recipe name or a YAML file. Defaults to None.
        overwrite: Replace a finished run in the same folder. Defaults to False.
        **keywords: Config keys that override ``config`` (``model="resnet20"``,
            ``epochs=5``, ``out="runs/x"``).

    Returns:
        The finished ``Run``.
    """
    from kerasvision.run import Run
    from kerasvision.training import train as run_training

    result = run_training(make_config(config, **keywords), overwrite=overwrite)
    return Run(result.run_dir)


def export_run(
    source: str | Path | Run,
    formats: list[str] | None = None,
    precisions: list[str] | None = None,
    **options: Any,
) -> list[Artifact]:
    """Exports a run's final model (or a ``.keras`` file) as ``kv export`` does.

    Args:
        source: A ``Run``, a run directory or a ``.keras``/``.h5`` file.
        formats: Formats to write. Defaults to None (all this machine builds).
        precisions: Precisions. Defaults to None (all each format takes).
        **options: The other keywords of ``kerasvision.export.export_model``
            (``dataset``, ``options``, ``max_drop``, ``out``, ...).

    Returns:
        The written artifacts, each verified by its runtime.

    Raises:
        KVError: When an export failed or an artifact lost more accuracy
            than allowed (the files that passed are kept).
    """
    from kerasvision.artifact import Artifact
    from kerasvision.errors import KVError
    from kerasvision.export import export_model

    path = getattr(source, "path", source)
    report = export_model(path, formats=formats, precisions=precisions, **options)
    if not report.ok:
        bad = [f"{r.format} {r.precision}" for r in report.failed]
        bad += [f"{fmt} {precision}" for fmt, precision, _ in report.failures]
        raise KVError(f"export of {path} failed for: {', '.join(bad)}")
    return [Artifact(artifact) for artifact in report.artifacts]


def evaluate(
    model: str | Path | Run | Artifact,
    *,
    dataset: str | None = None,
    split: str | None = None,
    out: str | Path | None = "",
    **options: Any,
) -> Evaluation:
    """Metrics of any model (run, ``.keras``, SavedModel, ``.tflite``, ``.onnx``, engine).

    Args:
        model: A ``Run`` or ``Artifact``, a run directory or an artifact's path.
        dataset: Data to evaluate on. Defaults to None (the run's held-out split).
        split: ``held-out``, ``test``, ``val``, ``train`` or ``all``. Defaults
            to None (held-out of the run's own data, all of another dataset).
        out: Folder for ``metrics.json`` and the confusion matrix; ``""``
            writes nothing. Defaults to ``""``.
        **options: ``threads``, ``batch_size``, ``data_dir``, ``pairs``.

    Returns:
        The ``Evaluation``.
    """
    from kerasvision.evaluation import evaluate as run_evaluation

    path = getattr(model, "path", model)
    result, _ = run_evaluation(path, dataset=dataset, split=split, out=out, **options)
    return result
