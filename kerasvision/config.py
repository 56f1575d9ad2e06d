"""Training configuration: defaults, YAML recipes, CLI overrides and validation.

A run is described by one :class:`TrainConfig`. It is built from the defaults,
then a recipe (a YAML file or the name of a recipe shipped in
``kerasvision/recipes``), then command-line overrides. Unknown keys are rejected
with a suggestion, values are checked against their ranges, and the fully
resolved config is written to the run directory as ``config.yaml``.

Each field is declared once, with its type, bounds, choices and an
:class:`~kerasvision.fieldspec.Opt` (help, flags, converter): validation,
``kv train``'s options and the option table of docs/training.md are all made
from these declarations (see ``kerasvision.fieldspec``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from annotated_types import Ge, Gt, Le, MinLen

from kerasvision.errors import KVError, did_you_mean, unknown
from kerasvision.fieldspec import ConfigError, Opt, load, spec_fields

FlipMode = Literal["auto", "none", "horizontal", "vertical", "horizontal_and_vertical", "alternate"]
TtaMode = Literal["none", "flip", "flip_translate"]
Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["cosine", "constant"]
CacheMode = Literal["auto", "memory", "disk", "none"]
MixedPrecision = Literal["auto", "off", "float16", "bfloat16"]
PruneStructure = Literal["unstructured", "2:4"]
QatMode = Literal["off", "auto", "qat", "pqat"]
PRUNE_STRUCTURES: tuple[str, ...] = PruneStructure.__args__
QAT_MODES: tuple[str, ...] = QatMode.__args__
TTA_MODES: tuple[str, ...] = TtaMode.__args__

# The keys of every config section: unknown ones are rejected, numbers become text.
_STRICT = {"extra": "forbid", "coerce_numbers_to_str": True}

_data = functools.partial(Opt, group="Data")
_model = functools.partial(Opt, group="Model")
_optim = functools.partial(Opt, group="Optimization")
_aug = functools.partial(Opt, group="Augmentation")
_run = functools.partial(Opt, group="Run control")
_distill = functools.partial(Opt, group="Distillation")
_compress = functools.partial(Opt, group="Starting point and compression")


def _qat_spelling(value: Any) -> Any:
    """YAML's ``qat: true`` means ``auto``, ``false`` means ``off``."""
    return ("auto" if value else "off") if isinstance(value, bool) else value


def _structure_spelling(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``2:4`` as the base-60 number 124."""
    return "2:4" if value == 124 and not isinstance(value, bool) else value


def _pattern_list(value: Any) -> Any:
    """A comma-separated string (``first_conv, fc``) as a list of patterns."""
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return value


@dataclass
class AugmentConfig:
    """Data augmentation, applied to the training split only (fields: docs/training.md)."""

    __pydantic_config__ = _STRICT

    flip: Annotated[
        FlipMode,
        _aug(
            "Flips: `auto` is horizontal, and none for `digits`; `alternate` flips each "
            "image horizontally every other epoch (a random half in the first), as airbench.",
            flags=("--flip",),
        ),
    ] = "auto"
    rotation: Annotated[
        float, Ge(0), Le(1), _aug("Largest rotation, a fraction of a full turn.", ("--rotation",))
    ] = 0.0
    zoom: Annotated[
        float, Ge(0), Le(1), _aug("Largest zoom in or out, a fraction of the size.", ("--zoom",))
    ] = 0.0
    translate: Annotated[
        float,
        Ge(0),
        Le(1),
        _aug(
            "Largest shift, a fraction of height and width, with reflection padding "
            "(0.125 is the classic 4-pixel CIFAR crop).",
            ("--translate",),
        ),
    ] = 0.1
    contrast: Annotated[
        float, Ge(0), Le(1), _aug("Largest contrast change factor.", ("--contrast",))
    ] = 0.0
    mixup: Annotated[
        float, Ge(0), Le(10), _aug("Mixup's Beta alpha; 0 turns it off.", ("--mixup",))
    ] = 0.0
    cutmix: Annotated[
        float, Ge(0), Le(10), _aug("CutMix's Beta alpha; 0 turns it off.", ("--cutmix",))
    ] = 0.0
    mix_prob: Annotated[
        float,
        Ge(0),
        Le(1),
        _aug("Fraction of training batches that mixup/CutMix are applied to."),
    ] = 1.0


@dataclass
class DistillConfig:
    """Knowledge distillation settings, used when the run has a teacher."""

    __pydantic_config__ = _STRICT

    alpha: Annotated[
        float,
        Ge(0),
        Le(1),
        _distill(
            "Weight of the hard-label loss; 1 - alpha weighs the match to the teacher.",
            ("--alpha",),
        ),
    ] = 0.1
    temperature: Annotated[
        float,
        Ge(0.1),
        Le(100),
        _distill("Softmax temperature of the teacher's soft targets.", ("--temperature",)),
    ] = 4.0
    tta: Annotated[
        TtaMode,
        _distill(
            "Test-time augmentation of the teacher's soft targets: its logits averaged over "
            "the image and its mirror (`flip`), and 2-pixel shifts of both (`flip_translate`).",
            ("--teacher-tta",),
        ),
    ] = "none"


@dataclass
class PruneConfig:
    """Magnitude pruning (tfmot), off while ``sparsity`` is 0."""

    __pydantic_config__ = _STRICT

    sparsity: Annotated[
        float,
        Ge(0),
        Le(0.99),
        _compress(
            "Target sparsity (fraction of zeros) of magnitude pruning; 0 is off.", ("--prune",)
        ),
    ] = 0.0
    end: Annotated[
        float,
        Gt(0),
        Le(1),
        _compress(
            "Fraction of the run by which the target sparsity is reached; the rest "
            "fine-tunes at it.",
            ("--prune-end",),
        ),
    ] = 0.75
    structure: Annotated[
        PruneStructure,
        _compress(
            "`2:4`: two zeros in every four consecutive weights (needs sparsity 0.5).",
            ("--prune-structure",),
            convert=_structure_spelling,
        ),
    ] = "unstructured"
    exclude: Annotated[
        list[Annotated[str, MinLen(1)]],
        _compress(
            "Layers kept dense, comma-separated: name patterns (`stage1_*`) and the keywords "
            "`first_conv` and `classifier`.",
            ("--prune-exclude",),
            convert=_pattern_list,
            expect="a list of layer-name patterns",
        ),
    ] = field(default_factory=lambda: ["first_conv", "classifier"])

    def check(self, prefix: str = "prune.") -> None:
        """Raises ConfigError when the sparsity does not fit the structure."""
        check_structure(self.sparsity, self.structure, prefix)


def check_structure(sparsity: float, structure: str, prefix: str = "") -> None:
    """Raises ConfigError unless ``sparsity`` fits ``structure`` (2:4 is exactly 0.5).

    Args:
        sparsity: The target fraction of zeros.
        structure: ``unstructured`` or ``2:4``.
        prefix: Prepended to the key names in the message (``prune.``).
            Defaults to ``""``.
    """
    if structure not in PRUNE_STRUCTURES:
        raise unknown(f"{prefix}structure", str(structure), PRUNE_STRUCTURES)
    if structure == "2:4" and sparsity != 0.5:
        raise ConfigError(
            f"{prefix}structure 2:4 zeroes half of every pruned kernel, so {{name}} must be "
            f"0.5, got {sparsity:g}",
            f"{prefix}sparsity",
        )


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Each field's meaning, bounds and default are declared with it (``Opt``) and
    listed in docs/training.md#options; ``augment``, ``distill`` and ``prune``
    are sections of their own. ``stages`` holds named stages trained in order,
    each a mapping of the keys that differ from the top level.
    """

    __pydantic_config__ = _STRICT

    dataset: Annotated[
        str, _data("`digits`, `tfds:NAME` or a folder of class subfolders.", ("-d", "--dataset"))
    ] = "digits"
    data_dir: Annotated[
        str | None,
        _data(
            "Where tensorflow-datasets keeps prepared data.",
            ("--data-dir",),
            none="`~/tensorflow_datasets`",
        ),
    ] = None
    model: Annotated[str, _model("A registered model name (`kv models`).", ("-m", "--model"))] = (
        "simple_cnn"
    )
    weights: Annotated[
        str,
        _model(
            "`none`, `imagenet` or a weights file, for models that take pretrained weights.",
            ("--weights",),
        ),
    ] = "none"
    width: Annotated[
        float,
        Ge(0.1),
        Le(4),
        _model(
            "Width multiplier of models that have one (`simple_cnn`, `mobilenet_v2`).", ("--width",)
        ),
    ] = 1.0
    dropout: Annotated[
        float | None,
        Ge(0),
        Le(0.95),
        _model("Dropout before the classifier.", ("--dropout",), none="the model's"),
    ] = None
    image_size: Annotated[
        int | None,
        Ge(8),
        Le(2048),
        _data(
            "Square input size in pixels.",
            ("--image-size",),
            none="the model's default size, else the data's own",
        ),
    ] = None
    channels: Annotated[
        Literal[1, 3] | None,
        _data(
            "1 (grayscale) or 3 (RGB).",
            ("--channels",),
            none="the data's own; 3 with pretrained weights",
        ),
    ] = None
    epochs: Annotated[
        int,
        Ge(1),
        Le(100_000),
        _optim("Training epochs (the upper bound under `time`).", ("-e", "--epochs")),
    ] = 30
    batch_size: Annotated[
        int,
        Ge(1),
        Le(65_536),
        _optim("Images per step on each device (replica).", ("-b", "--batch-size")),
    ] = 64
    optimizer: Annotated[
        Optimizer,
        _optim("`sgd` (Nesterov momentum), `adam` (no weight decay) or `adamw`.", ("--optimizer",)),
    ] = "sgd"
    lr: Annotated[
        float | None,
        Ge(1e-8),
        Le(10),
        _optim(
            "Peak learning rate (per device).",
            ("--lr",),
            none="0.1 × batch/128 for SGD, 1e-3 for Adam/AdamW",
        ),
    ] = None
    momentum: Annotated[float, Ge(0), Le(0.999), _optim("SGD momentum.", ("--momentum",))] = 0.9
    weight_decay: Annotated[
        float,
        Ge(0),
        Le(1),
        _optim(
            "Decoupled weight decay, multiplied by the learning rate (SGD, AdamW); "
            "under SGD momentum 0.9, 5e-3 acts like L2 5e-4.",
            ("--weight-decay",),
        ),
    ] = 5e-3
    schedule: Annotated[
        Schedule,
        _optim("`cosine` (linear warmup, then cosine decay) or `constant`.", ("--schedule",)),
    ] = "cosine"
    warmup_epochs: Annotated[
        float,
        Ge(0),
        _optim("Linear warmup length in epochs, at most `epochs`.", ("--warmup-epochs",)),
    ] = 1.0
    label_smoothing: Annotated[
        float,
        Ge(0),
        Le(0.5),
        _optim("Label smoothing of the cross-entropy.", ("--label-smoothing",)),
    ] = 0.1
    ema: Annotated[
        float,
        Ge(0),
        Le(0.9999),
        _optim(
            "Momentum of an exponential moving average of the weights (the optimizer's "
            "`use_ema`); the saved model is the averaged one. 0 is off.",
            ("--ema",),
        ),
    ] = 0.0
    ema_every: Annotated[
        int,
        Ge(0),
        Le(100_000),
        _optim(
            "With `ema`: copy the average into the weights every this many steps "
            "(lookahead-style, as airbench); 0 copies it once, at the end.",
            ("--ema-every",),
        ),
    ] = 0
    bn_bias_lr: Annotated[
        float,
        Gt(0),
        Le(1000),
        _optim(
            "Learning-rate factor of the BatchNorm biases (betas), SGD only (airbench "
            "trains them faster than the weights).",
            ("--bn-bias-lr",),
        ),
    ] = 1.0
    whiten: Annotated[
        bool,
        _model(
            "Set the model's `whiten` convolution (`airbench`) to whiten the 2x2 patches "
            "of the training images, and freeze it.",
            ("--whiten",),
        ),
    ] = False
    budget_share: Annotated[
        float | None,
        Gt(0),
        _run(
            "In `stages`: this stage's weight in splitting the run's `time` budget.",
            none="the stage's epochs",
        ),
    ] = None
    freeze_epochs: Annotated[
        int,
        Ge(0),
        Le(100_000),
        _optim(
            "With pretrained weights: epochs with the backbone frozen (all epochs when at "
            "least `epochs`).",
            ("--freeze-epochs",),
        ),
    ] = 2
    fine_tune_lr: Annotated[
        float,
        Ge(1e-6),
        Le(1),
        _optim(
            "Learning-rate factor once a pretrained backbone is unfrozen, and of a whole "
            "run that starts from `init`.",
            ("--fine-tune-lr",),
        ),
    ] = 0.1
    precise_bn: Annotated[
        int,
        Ge(0),
        Le(10_000),
        _optim(
            "Training batches over which BatchNorm statistics are recomputed, with the "
            "weights fixed, before every validation and so before the model is saved; "
            "0 keeps the moving averages of training (short runs then break in inference).",
            ("--precise-bn",),
        ),
    ] = 50
    patience: Annotated[
        int,
        Ge(0),
        Le(100_000),
        _run(
            "Early-stopping patience in epochs on validation accuracy; 0 is off.", ("--patience",)
        ),
    ] = 0
    time: Annotated[
        float | None,
        Ge(0.1),
        Le(1e6),
        _run(
            "Training budget in minutes; the epoch count and the schedule shrink to fit it.",
            ("--time",),
            none="no budget",
        ),
    ] = None
    val_split: Annotated[
        float,
        Ge(0.01),
        Le(0.9),
        _data("Validation fraction of data that has no validation split.", ("--val-split",)),
    ] = 0.2
    test_split: Annotated[
        float,
        Ge(0),
        Le(0.9),
        _data(
            "Test fraction of data that has no test split; 0 evaluates on validation.",
            ("--test-split",),
        ),
    ] = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    cache: Annotated[
        CacheMode,
        _data("`auto` (memory when it fits in 2 GiB), `memory`, `disk` or `none`.", ("--cache",)),
    ] = "auto"
    mixed_precision: Annotated[
        MixedPrecision,
        _optim(
            "`auto`: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with native bfloat16, "
            "else float32.",
            ("--mixed-precision",),
        ),
    ] = "auto"
    devices: Annotated[
        str | None,
        _optim(
            "Devices to train on: `gpu:0,gpu:1` (or `0,1`), or `cpu:0,cpu:1`; several train "
            "with MirroredStrategy.",
            ("--devices",),
            none="every visible GPU, else the CPU",
            check=lambda spec: parse_devices(spec),
        ),
    ] = None
    seed: Annotated[
        int, _run("Seed of initialization, shuffling and augmentation.", ("--seed",))
    ] = 42
    split_seed: Annotated[
        int,
        _run(
            "Seed of the train/validation/test split of data without one (apart from "
            "`seed`, so that runs of several seeds share one validation set).",
            ("--split-seed",),
        ),
    ] = 42
    out: Annotated[
        str | None, _run("Run directory.", ("-o", "--out"), none="`runs/<model>-<dataset>`")
    ] = None
    teacher: Annotated[
        str | None,
        _distill(
            "Distill from this teacher: a run directory, a model file, or (in `stages`) an "
            "earlier stage.",
            ("--teacher",),
            none="no distillation",
        ),
    ] = None
    distill: DistillConfig = field(default_factory=DistillConfig)
    init: Annotated[
        str | None,
        _compress(
            "Start from this trained model (a run directory, a model file, or an earlier "
            "stage) and fine-tune it at `fine_tune_lr` × the learning rate.",
            ("--init",),
            none="a new model",
        ),
    ] = None
    prune: PruneConfig = field(default_factory=PruneConfig)
    qat: Annotated[
        QatMode,
        _compress(
            "Quantization-aware training: `auto` (a bare `--qat`: PQAT for a pruned model, "
            "else QAT), `qat`, `pqat` or `off`.",
            ("--qat",),
            convert=_qat_spelling,
            flag_value="auto",
        ),
    ] = "off"
    stages: Annotated[
        dict[str, dict[str, Any]] | None,
        _run(
            "Named stages trained in order, each a mapping of the keys that differ from "
            "the top level.",
            none="one stage",
        ),
    ] = None

    def validate(self) -> TrainConfig:
        """Checks and coerces every value in place; raises KVError naming the first bad one."""
        checked = load(TrainConfig, upgrade_keys(dataclasses.asdict(self)))
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(checked, f.name))
        self._check_relations()
        if self.stages is not None:
            stage_configs(self)
        return self

    def _check_relations(self) -> None:
        """The checks that involve several fields."""
        if not self.dataset:
            raise ConfigError("{name} must not be empty", "dataset")
        if self.warmup_epochs > self.epochs:
            raise ConfigError(
                f"{{name}} must be between 0 and epochs ({self.epochs}), got "
                f"{self.warmup_epochs:g}",
                "warmup_epochs",
            )
        if self.val_split + self.test_split >= 0.95:
            raise ConfigError(
                f"val_split + {{name}} must leave data to train on, got "
                f"{self.val_split} + {self.test_split}",
                "test_split",
            )
        self.prune.check()
        if self.bn_bias_lr != 1.0 and self.optimizer != "sgd":
            raise ConfigError(
                f"{{name}} works with optimizer sgd only, got {self.optimizer}", "bn_bias_lr"
            )
        if self.ema and (self.prune.sparsity or self.qat != "off"):
            raise ConfigError(
                "{name} cannot be combined with pruning or QAT: the average of a pruned "
                "model's weights fills its zeros back in",
                "ema",
            )
        if self.prune.sparsity and self.time is not None:
            raise KVError(
                "prune.sparsity and time cannot be combined: the pruning schedule needs the "
                "step count"
            )
        if self.prune.sparsity and self.patience:
            raise KVError(
                "prune.sparsity and patience cannot be combined: stopping early would miss the "
                "target sparsity"
            )

    def to_dict(self) -> dict[str, Any]:
        """The config as nested plain data (what ``config.yaml`` holds)."""
        return dataclasses.asdict(self)

    @property
    def run_dir(self) -> Path:
        """``out``, or ``runs/<model>-<dataset name>``."""
        if self.out:
            return Path(self.out)
        name = self.dataset.replace("tfds:", "").rstrip("/").split("/")[-1] or "data"
        return Path("runs") / f"{self.model}-{name}"


_DEVICE = re.compile(r"/?(?:device:)?(cpu|gpu):(\d+)")


def parse_devices(spec: str | int | list | None) -> list[str] | None:
    """Parses a ``devices`` value into TensorFlow device names.

    Args:
        spec: Comma-separated ``gpu:N`` or ``cpu:N`` names (case-insensitive,
            ``/gpu:N`` and ``/device:GPU:N`` too), bare GPU numbers (``0,1``),
            or a list of those. None means automatic.

    Returns:
        Device names such as ``["/gpu:0", "/gpu:1"]``, or None for automatic.

    Raises:
        KVError: On an unknown name, a repeated device, or CPUs and GPUs mixed.
    """
    if spec is None:
        return None
    items = spec if isinstance(spec, list) else str(spec).split(",")
    names = []
    for item in (str(i).strip() for i in items):
        match = _DEVICE.fullmatch(item.lower())
        if item.isdigit():
            names.append(f"/gpu:{int(item)}")
        elif match:
            names.append(f"/{match[1]}:{int(match[2])}")
        else:
            raise KVError(f"devices: '{item}' is not a device; use gpu:N, cpu:N or N (a GPU)")
    if not names:
        raise KVError("devices must name at least one device, e.g. gpu:0,gpu:1")
    if len(set(names)) < len(names):
        raise KVError(f"devices names a device twice: {spec}")
    if len({name[:4] for name in names}) > 1:
        raise KVError(f"devices mixes CPUs and GPUs: {spec}; use one kind")
    return names


def list_recipes() -> list[str]:
    """Names of the recipes shipped with kerasvision."""
    folder = resources.files("kerasvision.recipes")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_recipe(name_or_path: str) -> dict[str, Any]:
    """Reads a recipe from a YAML path or by the name of a shipped recipe."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise KVError(f"config file not found: {name_or_path}")
        text = path.read_text(encoding="utf-8")
    else:
        recipe = resources.files("kerasvision.recipes") / f"{name_or_path}.yaml"
        if not recipe.is_file():
            raise unknown("recipe", name_or_path, list_recipes())
        text = recipe.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise KVError(f"{name_or_path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise KVError(f"{name_or_path} must hold a mapping of config keys")
    return data


# The keys of configs written before ``prune`` became a section, and where they went.
_OLD_PRUNE_KEYS = {"prune_end": "end", "prune_structure": "structure", "prune_exclude": "exclude"}
_SECTIONS = ("augment", "distill", "prune")


def upgrade_keys(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``-`` read as ``_`` in keys and old flat keys moved into their sections.

    A number for ``prune`` is ``prune.sparsity``; ``prune_end``,
    ``prune_structure`` and ``prune_exclude`` are ``prune.end``,
    ``prune.structure`` and ``prune.exclude``. The keys of each stage are
    upgraded alike, so that recipes and run directories written before the
    ``prune`` section still load (and resume) as they did.
    """
    out = {str(k).replace("-", "_"): v for k, v in data.items()}
    for section in _SECTIONS:
        if isinstance(out.get(section), dict):
            out[section] = {str(k).replace("-", "_"): v for k, v in out[section].items()}
    if "prune" in out and not isinstance(out["prune"], dict):
        out["prune"] = {"sparsity": out["prune"]}
    for old, new in _OLD_PRUNE_KEYS.items():
        if old in out:
            section = out["prune"] if isinstance(out.get("prune"), dict) else {}
            out["prune"] = {**section, new: out.pop(old)}
    if isinstance(out.get("stages"), dict):
        out["stages"] = {
            name: upgrade_keys(keys) if isinstance(keys, dict) else keys
            for name, keys in out["stages"].items()
        }
    return out


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` (both upgraded) applied; sections merge key by key."""
    out = dict(base)
    for key, value in changes.items():
        if key in _SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _validated(data: dict[str, Any], prefix: str = "") -> TrainConfig:
    config = load(TrainConfig, data, prefix)
    try:
        config._check_relations()
    except ConfigError as exc:
        raise ConfigError(exc.template, prefix + exc.key) from None
    if config.stages is not None:
        stage_configs(config)
    return config


def build_config(recipe: str | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Builds a validated config: defaults, then ``recipe``, then ``overrides``.

    Args:
        recipe: A YAML path or the name of a shipped recipe. Defaults to None.
        overrides: Keys to set last, e.g. from the command line; nested keys as
            dicts (``{"augment": {"mixup": 0.2}}``). Defaults to None.

    Returns:
        The validated ``TrainConfig``.
    """
    data = upgrade_keys(read_recipe(recipe)) if recipe else {}
    return _validated(_merge(data, upgrade_keys(overrides or {})))


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuilds a config from ``TrainConfig.to_dict()`` output (e.g. a run's config.yaml)."""
    return _validated(upgrade_keys(data))


def override_config(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A validated copy of ``config`` with ``overrides`` applied (nested, as ``--set`` gives)."""
    return _validated(_merge(config.to_dict(), upgrade_keys(overrides)))


def stage_configs(config: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """The validated config of each stage: the top level with the stage's keys applied.

    A stage's ``teacher`` and ``init`` may name an earlier stage; ``out`` is
    left to the trainer, which gives each stage a folder under the run directory.
    """
    if not isinstance(config.stages, dict) or not config.stages:
        raise KVError("stages must be a mapping of stage names to config keys")
    # The run's time budget is split over the stages by the trainer (``budget``).
    skip = ("stages", "out", "time", "budget_share")
    base = {k: v for k, v in config.to_dict().items() if k not in skip}
    out, seen = [], []
    for name, keys in config.stages.items():
        if not re.fullmatch(r"[A-Za-z][\w-]*", str(name)) or name in ("model", "stages"):
            raise KVError(f"stage name '{name}' must be a word other than 'model' or 'stages'")
        if not isinstance(keys, dict):
            raise KVError(f"stage '{name}' must be a mapping of config keys")
        keys = upgrade_keys(keys)
        if "stages" in keys or "out" in keys or "devices" in keys:
            raise KVError(f"stage '{name}' cannot set 'stages', 'out' or 'devices'")
        for key, verb in (("teacher", "distills from"), ("init", "starts from")):
            ref = keys.get(key)
            if ref and not _is_path_like(ref) and ref not in seen:
                raise KVError(
                    f"stage '{name}' {verb} '{ref}', which is not an earlier stage"
                    f"{did_you_mean(str(ref), seen)}"
                )
        out.append((str(name), _validated(_merge(base, keys), prefix=f"stages.{name}.")))
        seen.append(str(name))
    return out


def compression_stages(config: TrainConfig) -> TrainConfig:
    """Splits a run without stages that both prunes and uses QAT into two stages.

    QAT starts from a finished, stripped pruned model, so ``prune`` with
    ``qat`` becomes a ``pruned`` stage (``qat: off``) and then a ``qat`` stage
    that starts from it (``prune.sparsity: 0``), each for ``epochs`` epochs.
    Any other config is returned as it is.
    """
    if config.stages or not config.prune.sparsity or config.qat == "off":
        return config
    stages = {
        "pruned": {"qat": "off"},
        "qat": {
            "init": "pruned",
            "prune": {"sparsity": 0.0, "structure": "unstructured"},
            "qat": config.qat,
        },
    }
    return dataclasses.replace(config, stages=stages).validate()


def option_fields() -> tuple:
    """The fields of ``TrainConfig`` with their ``Opt``, as ``kv train`` and the docs list them."""
    return spec_fields(TrainConfig)


def _is_path_like(value: Any) -> bool:
    text = str(value)
    return "/" in text or text.endswith((".keras", ".h5")) or Path(text).exists()
