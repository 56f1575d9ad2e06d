"""``kv train``: options, recipe and overrides in, a run directory out."""

from __future__ import annotations

from typing import Any

import click
import yaml

# (flags, config key, type, help). Every option defaults to None so that only
# what the user typed overrides the recipe.
_OPTIONS: list[tuple[tuple[str, ...], str, Any, str]] = [
    (("-d", "--dataset"), "dataset", str, "digits, tfds:NAME or an image folder."),
    (("--data-dir",), "data_dir", str, "tensorflow-datasets data folder."),
    (("-m", "--model"), "model", str, "Registered model name (kv models)."),
    (("--weights",), "weights", str, "none, imagenet or a weights file."),
    (("--width",), "width", float, "Width multiplier (simple_cnn, mobilenet_v2)."),
    (("--dropout",), "dropout", float, "Dropout before the classifier (default: the model's)."),
    (("--image-size",), "image_size", int, "Square input size in pixels."),
    (("--channels",), "channels", int, "1 (grayscale) or 3 (RGB)."),
    (("-e", "--epochs"), "epochs", int, "Training epochs."),
    (("-b", "--batch-size"), "batch_size", int, "Images per step."),
    (("--optimizer",), "optimizer", str, "sgd, adam (no weight decay) or adamw."),
    (("--lr",), "lr", float, "Peak learning rate."),
    (("--momentum",), "momentum", float, "SGD momentum."),
    (("--weight-decay",), "weight_decay", float, "Decoupled weight decay."),
    (("--schedule",), "schedule", str, "cosine (with warmup) or constant."),
    (("--warmup-epochs",), "warmup_epochs", float, "Linear warmup length."),
    (("--label-smoothing",), "label_smoothing", float, "Label smoothing."),
    (("--freeze-epochs",), "freeze_epochs", int, "Epochs with a frozen pretrained backbone."),
    (("--fine-tune-lr",), "fine_tune_lr", float, "LR factor after unfreezing."),
    (("--patience",), "patience", int, "Early-stopping patience (0: off)."),
    (("--time",), "time", float, "Time budget in minutes."),
    (("--val-split",), "val_split", float, "Validation fraction."),
    (("--test-split",), "test_split", float, "Test fraction."),
    (("--flip",), "augment.flip", str, "auto, none, horizontal, vertical, ..."),
    (("--rotation",), "augment.rotation", float, "Max rotation (fraction of a turn)."),
    (("--zoom",), "augment.zoom", float, "Max zoom fraction."),
    (("--translate",), "augment.translate", float, "Max shift fraction."),
    (("--contrast",), "augment.contrast", float, "Max contrast factor."),
    (("--mixup",), "augment.mixup", float, "Mixup alpha (0: off)."),
    (("--cutmix",), "augment.cutmix", float, "CutMix alpha (0: off)."),
    (("--cache",), "cache", str, "auto, memory, disk or none."),
    (("--mixed-precision",), "mixed_precision", str, "auto, off, float16 or bfloat16."),
    (
        ("--devices",),
        "devices",
        str,
        "Devices, e.g. gpu:0,gpu:1 or cpu:0,cpu:1 (default: every GPU, else the CPU).",
    ),
    (("--seed",), "seed", int, "Seed of initialization, shuffling and augmentation."),
    (("--split-seed",), "split_seed", int, "Seed of the train/val/test split."),
    (("-o", "--out"), "out", str, "Run directory."),
    (("--teacher",), "teacher", str, "Distill from this run directory or model file."),
    (("--alpha",), "distill.alpha", float, "Distillation: weight of the hard labels."),
    (("--temperature",), "distill.temperature", float, "Distillation: softmax temperature."),
    (("--init",), "init", str, "Start from this trained model: a run directory or model file."),
    (("--prune",), "prune", float, "Prune to this sparsity, e.g. 0.5 (0: off)."),
    (
        ("--prune-end",),
        "prune_end",
        float,
        "Fraction of the run by which the target sparsity is reached (default 0.75).",
    ),
    (("--prune-structure",), "prune_structure", str, "unstructured or 2:4 (with --prune 0.5)."),
    (
        ("--prune-exclude",),
        "prune_exclude",
        str,
        "Layers kept dense, comma-separated patterns (default: first_conv,classifier).",
    ),
    (
        ("--qat",),
        "qat",
        str,
        "Quantization-aware training: auto (the default of a bare --qat), qat, pqat or off.",
    ),
]

# Options that may be given without a value, and the value they then take.
_FLAG_VALUES = {"qat": "auto"}

_NO_AUGMENT = {
    "flip": "none",
    "rotation": 0.0,
    "zoom": 0.0,
    "translate": 0.0,
    "contrast": 0.0,
    "mixup": 0.0,
    "cutmix": 0.0,
}


def _set(overrides: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = overrides
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def parse_set(items: tuple[str, ...]) -> dict[str, Any]:
    """Parses ``--set key=value`` items (values as YAML scalars) into overrides."""
    from kerasvision.errors import KVError

    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise KVError(f"--set takes KEY=VALUE, got '{item}'")
        _set(overrides, key.strip(), yaml.safe_load(value) if value else None)
    return overrides


def collect_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The config overrides the user gave on the command line."""
    overrides = parse_set(params.pop("set_items", ()))
    if params.pop("no_augment", False):
        overrides.setdefault("augment", {}).update(_NO_AUGMENT)
    for _, key, _, _ in _OPTIONS:
        value = params.get(key.replace(".", "_"))
        if value is not None:
            _set(overrides, key, value)
    return overrides


def _with_options(fn):
    for flags, key, kind, help_text in reversed(_OPTIONS):
        extra = {"is_flag": False, "flag_value": _FLAG_VALUES[key]} if key in _FLAG_VALUES else {}
        fn = click.option(
            *flags, key.replace(".", "_"), type=kind, default=None, help=help_text, **extra
        )(fn)
    return fn


@click.command()
@click.option("-c", "--config", "recipe", help="Recipe: a YAML file or a shipped recipe name.")
@_with_options
@click.option("--no-augment", is_flag=True, help="Turn all augmentation off.")
@click.option(
    "--set",
    "set_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set any config key, e.g. --set augment.mixup=0.2 (repeatable).",
)
@click.option("--overwrite", is_flag=True, help="Replace a finished run in --out.")
def train(recipe: str | None, overwrite: bool, **params: Any) -> None:
    """Train an image classifier and write its run directory.

    Options override the recipe given with --config, which overrides the
    defaults. Rerunning the same command after a crash resumes the run.
    """
    from kerasvision.config import build_config
    from kerasvision.training import train as run_training

    config = build_config(recipe, collect_overrides(params))
    result = run_training(config, overwrite=overwrite)
    print_summary(result)


def print_summary(result) -> None:
    """Prints the run's headline figures as a table."""
    from rich.console import Console
    from rich.table import Table

    m = result.metrics
    table = Table(title=f"kv train: {m['model']} on {m['dataset']}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("run directory", str(result.run_dir)),
        ("parameters", f"{m['params']:,}"),
        ("input", "x".join(map(str, m["input_shape"]))),
        ("images (train/val)", f"{m['counts']['train']}/{m['counts']['val']}"),
        ("epochs", str(m["epochs"])),
        ("val accuracy", f"{m['val']['accuracy']:.4f}"),
        ("val top-5", f"{m['val']['top5']:.4f}"),
    ]
    if "test" in m:
        rows.append(("test accuracy", f"{m['test']['accuracy']:.4f}"))
    dist = m.get("distribution", {})
    if dist.get("replicas", 1) > 1:
        rows.append(
            (
                "replicas",
                f"{dist['replicas']} ({dist['strategy']}, {dist['workers']} worker(s)), "
                f"global batch {dist['global_batch_size']}, lr {dist['lr']:g}",
            )
        )
    rows += [
        ("train time", f"{m['train_seconds']:.1f} s"),
        ("images/s", f"{m['images_per_s']:,.0f}" if m["images_per_s"] else "-"),
    ]
    if "teacher" in m:
        rows.append(("teacher params", f"{m['teacher']['params']:,}"))
    if "pruning" in m:
        p = m["pruning"]
        rows.append(
            (
                "sparsity",
                f"{p['sparsity']:.1%} of the pruned weights ({p['structure']}), "
                f"{p['model_sparsity']:.1%} of the model",
            )
        )
        rows.append(("gzip size", f"{p['gzip_bytes']:,} bytes ({m['final_model']}, gzipped)"))
    if "qat" in m:
        kept = ", ".join(m["qat"]["float_layers"]) or "none"
        rows.append((m["qat"]["scheme"].upper(), f"quantization-aware; float layers: {kept}"))
    for name, stage in m.get("stages", {}).items():
        rows.append(
            (
                f"stage {name}",
                f"{stage['model']}, {stage['params']:,} params, "
                f"val accuracy {stage['val']['accuracy']:.4f}",
            )
        )
    for row in rows:
        table.add_row(*row)
    Console().print(table)
