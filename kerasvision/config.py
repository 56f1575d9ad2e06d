"""Training configuration: defaults, YAML recipes, CLI overrides and validation.

A run is described by one :class:`TrainConfig`. It is built from the defaults,
then a recipe (a YAML file or the name of a recipe shipped in
``kerasvision/recipes``), then command-line overrides. Unknown keys are rejected
with a suggestion, values are checked against their ranges, and the fully
resolved config is written to the run directory as ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kerasvision.errors import KVError, did_you_mean, unknown

FLIP_MODES = ("auto", "none", "horizontal", "vertical", "horizontal_and_vertical")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "constant")
CACHE_MODES = ("auto", "memory", "disk", "none")
MIXED_PRECISION = ("auto", "off", "float16", "bfloat16")
PRUNE_STRUCTURES = ("unstructured", "2:4")
QAT_MODES = ("off", "auto", "qat", "pqat")


@dataclass
class AugmentConfig:
    """Data augmentation, applied to the training split only.

    Attributes:
        flip: ``auto`` (horizontal for natural images, none for digits), ``none``,
            ``horizontal``, ``vertical`` or ``horizontal_and_vertical``.
            Defaults to ``auto``.
        rotation: Largest rotation as a fraction of a full turn. Defaults to 0.
        zoom: Largest zoom in or out as a fraction of the size. Defaults to 0.
        translate: Largest shift as a fraction of height and width (with
            reflection padding; 0.125 is the classic 4-pixel CIFAR crop).
            Defaults to 0.1.
        contrast: Largest contrast change factor. Defaults to 0.
        mixup: Beta-distribution alpha of mixup; 0 disables it. Defaults to 0.
        cutmix: Beta-distribution alpha of CutMix; 0 disables it. Defaults to 0.
        mix_prob: Fraction of training batches that mixup/CutMix are applied
            to; the rest pass unmixed. Defaults to 1.0.
    """

    flip: str = "auto"
    rotation: float = 0.0
    zoom: float = 0.0
    translate: float = 0.1
    contrast: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0

    def validate(self) -> None:
        if self.flip not in FLIP_MODES:
            raise unknown("augment.flip", self.flip, FLIP_MODES)
        for name in ("rotation", "zoom", "translate", "contrast"):
            _check_range(f"augment.{name}", getattr(self, name), 0.0, 1.0)
        for name in ("mixup", "cutmix"):
            _check_range(f"augment.{name}", getattr(self, name), 0.0, 10.0)
        _check_range("augment.mix_prob", self.mix_prob, 0.0, 1.0)


@dataclass
class DistillConfig:
    """Knowledge distillation settings (used when the run has a teacher).

    Attributes:
        alpha: Weight of the hard-label cross-entropy; ``1 - alpha`` weighs the
            match to the teacher's softened outputs. Defaults to 0.1.
        temperature: Softmax temperature of the soft targets. Defaults to 4.0.
    """

    alpha: float = 0.1
    temperature: float = 4.0

    def validate(self) -> None:
        _check_range("distill.alpha", self.alpha, 0.0, 1.0)
        _check_range("distill.temperature", self.temperature, 0.1, 100.0)


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        dataset: ``digits``, ``tfds:NAME`` or a folder of class subfolders.
            Defaults to ``digits``.
        data_dir: Where tensorflow-datasets keeps prepared data. Defaults to None
            (tfds' own default, ``~/tensorflow_datasets``).
        model: A registered model name (see ``kv models``). Defaults to ``simple_cnn``.
        weights: ``none``, ``imagenet`` or a path to a weights file, for models
            that take pretrained weights. Defaults to ``none``.
        width: Width multiplier for models that have one (``mobilenet_v2``).
            Defaults to 1.0.
        dropout: Dropout before the classifier; None keeps the model's own
            default. Defaults to None.
        image_size: Square input size in pixels; None takes the model's default,
            else the dataset's own size. Defaults to None.
        channels: 1 (grayscale) or 3 (RGB); None takes the dataset's own.
            Defaults to None.
        epochs: Training epochs. Defaults to 30.
        batch_size: Images per step. Defaults to 64.
        optimizer: ``sgd`` (with Nesterov momentum), ``adam`` or ``adamw``.
            Defaults to ``sgd``.
        lr: Peak learning rate; None picks 0.1 x batch/128 for SGD and 1e-3 for
            Adam/AdamW. Defaults to None.
        momentum: SGD momentum. Defaults to 0.9.
        weight_decay: Decoupled weight decay, multiplied by the learning rate
            as in PyTorch's AdamW (biases and normalization excluded). With SGD
            momentum 0.9, 5e-3 here acts like an L2 penalty of 5e-4.
            Defaults to 5e-3.
        schedule: ``cosine`` (with linear warmup) or ``constant``. Defaults to
            ``cosine``.
        warmup_epochs: Linear warmup length in epochs. Defaults to 1.0.
        label_smoothing: Label smoothing of the cross-entropy. Defaults to 0.1.
        freeze_epochs: With pretrained weights, epochs trained with the backbone
            frozen before it is fine-tuned. Defaults to 2.
        fine_tune_lr: Learning-rate factor for the fine-tuning phase (of a
            pretrained model, or of a run that starts from ``init``).
            Defaults to 0.1.
        patience: Early stopping patience in epochs on validation accuracy;
            0 disables it. Defaults to 0.
        time: Training budget in minutes; the epoch count shrinks to fit it and
            the schedule follows. None means no budget. Defaults to None.
        val_split: Fraction held out for validation when the data has no
            validation split. Defaults to 0.2.
        test_split: Fraction held out for a test split when the data has none;
            0 evaluates on the validation split. Defaults to 0.0.
        augment: Data augmentation settings. Defaults to ``AugmentConfig()``.
        cache: ``auto`` (memory when it fits in 2 GiB), ``memory``, ``disk`` or
            ``none``. Defaults to ``auto``.
        mixed_precision: ``auto``, ``off``, ``float16`` or ``bfloat16``. Auto
            picks ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU with
            native bfloat16 instructions (AVX512-BF16 or AMX), else float32.
            Saved models are always float32. Defaults to ``auto``.
        devices: Devices to train on, comma-separated: ``gpu:0,gpu:1`` (or
            ``0,1``), or ``cpu:0,cpu:1`` (the CPU split into logical devices,
            to try multi-device training without GPUs). Several devices train
            with ``MirroredStrategy``; under ``TF_CONFIG`` (multi-worker) it
            names each worker's GPUs. ``batch_size`` and ``lr`` are per
            device (replica); see docs/distributed.md. None uses every
            visible GPU, else the CPU. Defaults to None.
        seed: Seed of initialization, shuffling and augmentation. Defaults
            to 42.
        split_seed: Seed of the train/validation/test split of data that has
            none. Kept apart from ``seed`` so runs of several seeds, and a
            teacher and its students, share one validation set. Defaults to 42.
        out: Run directory; None uses ``runs/<model>-<dataset>``. Defaults to None.
        teacher: Distill from this teacher: a run directory, a model file, or
            (inside ``stages``) the name of an earlier stage. Defaults to None.
        distill: Distillation settings. Defaults to ``DistillConfig()``.
        init: Start from this trained model instead of building a new one: a
            run directory, a model file, or (inside ``stages``) the name of an
            earlier stage. ``model``, ``weights``, ``width`` and ``dropout``
            are then unused, and the learning rate is scaled by
            ``fine_tune_lr``. Defaults to None.
        prune: Target sparsity (fraction of zeros) of magnitude pruning, in
            [0, 0.99); 0 turns pruning off. Defaults to 0.0.
        prune_end: Fraction of the run by which the target sparsity is
            reached, in (0, 1]; the rest fine-tunes at that sparsity.
            Defaults to 0.75.
        prune_structure: ``unstructured`` or ``2:4`` (two zeros in every four
            consecutive weights, needs ``prune: 0.5``). Defaults to
            ``unstructured``.
        prune_exclude: Layers that stay dense: layer-name patterns
            (``stage1_*``) and the keywords ``first_conv`` and ``classifier``.
            Defaults to ``["first_conv", "classifier"]``.
        qat: Quantization-aware training: ``off``, ``qat``, ``pqat``
            (pruning-preserving) or ``auto`` (PQAT for a pruned model, else
            QAT); ``true`` means ``auto``. With ``prune`` in a run without
            stages, a pruning stage and then a QAT stage. Defaults to ``off``.
        stages: Named stages trained in order, each a mapping of the keys above
            that differ from the top level (e.g. ``teacher`` then ``student``
            with ``teacher: teacher``). Defaults to None (one stage).
    """

    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "simple_cnn"
    weights: str = "none"
    width: float = 1.0
    dropout: float | None = None
    image_size: int | None = None
    channels: int | None = None
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-3
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    freeze_epochs: int = 2
    fine_tune_lr: float = 0.1
    patience: int = 0
    time: float | None = None
    val_split: float = 0.2
    test_split: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    cache: str = "auto"
    mixed_precision: str = "auto"
    devices: str | None = None
    seed: int = 42
    split_seed: int = 42
    out: str | None = None
    teacher: str | None = None
    distill: DistillConfig = field(default_factory=DistillConfig)
    init: str | None = None
    prune: float = 0.0
    prune_end: float = 0.75
    prune_structure: str = "unstructured"
    prune_exclude: list[str] = field(default_factory=lambda: ["first_conv", "classifier"])
    qat: str = "off"
    stages: dict[str, dict[str, Any]] | None = None

    def validate(self) -> TrainConfig:
        """Checks every value; raises KVError naming the first bad one."""
        if not self.dataset:
            raise KVError("dataset must not be empty")
        _check_range("epochs", self.epochs, 1, 100_000)
        _check_range("batch_size", self.batch_size, 1, 65_536)
        if self.image_size is not None:
            _check_range("image_size", self.image_size, 8, 2048)
        if self.channels not in (None, 1, 3):
            raise KVError(f"channels must be 1 or 3, got {self.channels}")
        if self.optimizer not in OPTIMIZERS:
            raise unknown("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise unknown("schedule", self.schedule, SCHEDULES)
        if self.cache not in CACHE_MODES:
            raise unknown("cache mode", self.cache, CACHE_MODES)
        if self.mixed_precision not in MIXED_PRECISION:
            raise unknown("mixed_precision", self.mixed_precision, MIXED_PRECISION)
        if self.devices is not None:
            parse_devices(self.devices)
        if self.lr is not None:
            _check_range("lr", self.lr, 1e-8, 10.0, low_open=False)
        _check_range("width", self.width, 0.1, 4.0)
        if self.dropout is not None:
            _check_range("dropout", self.dropout, 0.0, 0.95)
        _check_range("momentum", self.momentum, 0.0, 0.999)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("warmup_epochs", self.warmup_epochs, 0.0, float(self.epochs))
        _check_range("label_smoothing", self.label_smoothing, 0.0, 0.5)
        _check_range("freeze_epochs", self.freeze_epochs, 0, 100_000)
        _check_range("fine_tune_lr", self.fine_tune_lr, 1e-6, 1.0)
        _check_range("patience", self.patience, 0, 100_000)
        if self.time is not None:
            _check_range("time", self.time, 0.1, 1e6)
        _check_range("val_split", self.val_split, 0.01, 0.9)
        _check_range("test_split", self.test_split, 0.0, 0.9)
        if self.val_split + self.test_split >= 0.95:
            raise KVError(
                f"val_split + test_split must leave data to train on, got "
                f"{self.val_split} + {self.test_split}"
            )
        self.augment.validate()
        self.distill.validate()
        self._validate_compression()
        if self.stages is not None:
            stage_configs(self)
        return self

    def _validate_compression(self) -> None:
        _check_range("prune", self.prune, 0.0, 0.99)
        if not 0.0 < self.prune_end <= 1.0:
            raise KVError(f"prune_end must be in (0, 1], got {self.prune_end}")
        if self.prune_structure not in PRUNE_STRUCTURES:
            raise unknown("prune_structure", str(self.prune_structure), PRUNE_STRUCTURES)
        if self.prune_structure == "2:4" and self.prune != 0.5:
            raise KVError(
                f"prune_structure 2:4 zeroes half of every pruned kernel; set prune to 0.5, "
                f"got {self.prune:g}"
            )
        if not isinstance(self.prune_exclude, list) or not all(
            isinstance(p, str) and p for p in self.prune_exclude
        ):
            raise KVError(
                f"prune_exclude must be a list of layer-name patterns, got {self.prune_exclude!r}"
            )
        if self.qat not in QAT_MODES:
            raise unknown("qat mode", str(self.qat), QAT_MODES)
        if self.prune and self.time is not None:
            raise KVError(
                "prune and time cannot be combined: the pruning schedule needs the step count"
            )
        if self.prune and self.patience:
            raise KVError(
                "prune and patience cannot be combined: stopping early would miss the target "
                "sparsity"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        name = self.dataset.replace("tfds:", "").rstrip("/").split("/")[-1] or "data"
        return Path("runs") / f"{self.model}-{name}"


def _check_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KVError(f"{name} must be a number, got {value!r}")
    if value < low or value > high or (low_open and value == low):
        raise KVError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


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


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Coerces YAML scalars to the field's type (ints for floats, 'none' strings)."""
    if value is None:
        return None
    if name == "qat" and isinstance(value, bool):
        return "auto" if value else "off"
    if name == "prune_structure" and value == 124:
        return "2:4"  # YAML 1.1 reads an unquoted 2:4 as the base-60 number 124
    if name == "prune_exclude" and isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    text = str(kind)
    if "float" in text and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if text in ("int", "int | None") and isinstance(value, float) and value.is_integer():
        return int(value)
    if text == "str" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _apply(target: Any, data: dict[str, Any], prefix: str = "") -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    for key, value in data.items():
        key = str(key).replace("-", "_")
        if key not in fields:
            raise KVError(f"unknown config key '{prefix}{key}'{did_you_mean(key, fields)}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise KVError(f"config key '{prefix}{key}' must be a mapping")
            _apply(current, value, prefix=f"{prefix}{key}.")
        else:
            setattr(target, key, _coerce(key, value, fields[key].type))


def build_config(recipe: str | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Builds a validated config: defaults, then ``recipe``, then ``overrides``.

    Args:
        recipe: A YAML path or the name of a shipped recipe. Defaults to None.
        overrides: Keys to set last, e.g. from the command line; nested keys as
            dicts (``{"augment": {"mixup": 0.2}}``). Defaults to None.

    Returns:
        The validated ``TrainConfig``.
    """
    config = TrainConfig()
    if recipe:
        _apply(config, read_recipe(recipe))
    if overrides:
        _apply(config, overrides)
    return config.validate()


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuilds a config from ``TrainConfig.to_dict()`` output (e.g. a run's config.yaml)."""
    config = TrainConfig()
    _apply(config, data)
    return config.validate()


def override_config(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """A validated copy of ``config`` with ``overrides`` applied (nested, as ``--set`` gives)."""
    copy = config_from_dict(config.to_dict())
    _apply(copy, overrides)
    return copy.validate()


def stage_configs(config: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """The validated config of each stage: the top level with the stage's keys applied.

    A stage's ``teacher`` and ``init`` may name an earlier stage; ``out`` is
    left to the trainer, which gives each stage a folder under the run directory.
    """
    if not isinstance(config.stages, dict) or not config.stages:
        raise KVError("stages must be a mapping of stage names to config keys")
    base = {k: v for k, v in config.to_dict().items() if k not in ("stages", "out")}
    out, seen = [], []
    for name, keys in config.stages.items():
        if not re.fullmatch(r"[A-Za-z][\w-]*", str(name)) or name in ("model", "stages"):
            raise KVError(f"stage name '{name}' must be a word other than 'model' or 'stages'")
        if not isinstance(keys, dict):
            raise KVError(f"stage '{name}' must be a mapping of config keys")
        if "stages" in keys or "out" in keys or "devices" in keys:
            raise KVError(f"stage '{name}' cannot set 'stages', 'out' or 'devices'")
        stage = TrainConfig()
        _apply(stage, base)
        _apply(stage, keys, prefix=f"stages.{name}.")
        for key, verb in (("teacher", "distills from"), ("init", "starts from")):
            ref = keys.get(key)
            if ref and not _is_path_like(ref) and ref not in seen:
                raise KVError(
                    f"stage '{name}' {verb} '{ref}', which is not an earlier stage"
                    f"{did_you_mean(str(ref), seen)}"
                )
        stage.stages = None
        out.append((str(name), stage.validate()))
        seen.append(str(name))
    return out


def compression_stages(config: TrainConfig) -> TrainConfig:
    """Splits a run without stages that both prunes and uses QAT into two stages.

    QAT starts from a finished, stripped pruned model, so ``prune`` with
    ``qat`` becomes a ``pruned`` stage (``qat: off``) and then a ``qat`` stage
    that starts from it (``prune: 0``), each for ``epochs`` epochs. Any other
    config is returned as it is.
    """
    if config.stages or not config.prune or config.qat == "off":
        return config
    stages = {
        "pruned": {"qat": "off"},
        "qat": {
            "init": "pruned",
            "prune": 0.0,
            "prune_structure": "unstructured",
            "qat": config.qat,
        },
    }
    return dataclasses.replace(config, stages=stages).validate()


def _is_path_like(value: Any) -> bool:
    text = str(value)
    return "/" in text or text.endswith((".keras", ".h5")) or Path(text).exists()
