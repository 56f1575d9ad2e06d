"""``create_schedule`` and ``create_optimizer``: the learning-rate side of training."""

from __future__ import annotations

import math
import re

from kerasvision.backend import keras, tf
from kerasvision.config import TrainConfig

# Weight decay skips biases and normalization parameters. Keras matches these
# regular expressions against variable names ("stem_bn/gamma:0", or "bias:0" for
# a layer built alone), so a layer merely named "beta_head" keeps its decay.
_NO_DECAY = [r"(^|/)bias:", r"(^|/)gamma:", r"(^|/)beta:"]


@keras.saving.register_keras_serializable("kerasvision")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to ``peak_lr``, then cosine decay to ``peak_lr * final_scale``.

    ``total_steps`` is a variable so a time budget can shorten the run while it
    trains (``set_total_steps``).

    Args:
        peak_lr: Learning rate at the end of warmup.
        total_steps: Steps of the whole run.
        warmup_steps: Steps of linear warmup. Defaults to 0.
        final_scale: Final learning rate as a fraction of the peak. Defaults to 0.0.
    """

    def __init__(
        self, peak_lr: float, total_steps: int, warmup_steps: int = 0, final_scale: float = 0.0
    ):
        super().__init__()
        self.peak_lr = float(peak_lr)
        self.warmup_steps = int(warmup_steps)
        self.final_scale = float(final_scale)
        self.total_steps = tf.Variable(
            float(max(total_steps, 1)), trainable=False, dtype=tf.float32, name="total_steps"
        )

    def set_total_steps(self, steps: int) -> None:
        self.total_steps.assign(float(max(steps, self.warmup_steps + 1)))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = tf.cast(self.warmup_steps, tf.float32)
        warm = self.peak_lr * (step + 1.0) / tf.maximum(warmup, 1.0)
        progress = tf.clip_by_value(
            (step - warmup) / tf.maximum(self.total_steps - warmup, 1.0), 0.0, 1.0
        )
        cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
        decayed = self.peak_lr * (self.final_scale + (1.0 - self.final_scale) * cosine)
        return tf.where(step < warmup, warm, decayed)

    def get_config(self) -> dict:
        return {
            "peak_lr": self.peak_lr,
            "total_steps": int(self.total_steps.numpy()),
            "warmup_steps": self.warmup_steps,
            "final_scale": self.final_scale,
        }


def peak_lr(config: TrainConfig) -> float:
    """The configured learning rate, or the default for the optimizer and batch size.

    SGD: 0.1 x batch_size / 128 (the CIFAR ResNet recipe, scaled linearly);
    Adam/AdamW: 1e-3.
    """
    if config.lr is not None:
        return config.lr
    return 0.1 * config.batch_size / 128 if config.optimizer == "sgd" else 1e-3


def create_schedule(
    config: TrainConfig,
    steps_per_epoch: int,
    lr: float | None = None,
    epochs: int | None = None,
):
    """The learning-rate schedule: ``WarmupCosine`` or a constant float.

    Args:
        config: The run's config.
        steps_per_epoch: Optimizer steps per epoch.
        lr: Peak learning rate. Defaults to None (``peak_lr(config)``).
        epochs: Epochs the schedule spans. Defaults to None (``config.epochs``).
    """
    lr = peak_lr(config) if lr is None else lr
    epochs = config.epochs if epochs is None else epochs
    if config.schedule == "constant":
        return lr
    return WarmupCosine(
        lr,
        total_steps=epochs * steps_per_epoch,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
    )


@keras.saving.register_keras_serializable("kerasvision")
class BiasScaledSGD(keras.optimizers.SGD):
    """SGD whose BatchNorm biases (``beta``) learn at ``bias_lr`` x the learning rate.

    Under SGD with (Nesterov) momentum the update is linear in the gradient,
    so scaling a variable's gradient scales its learning rate exactly.
    Weight decay already skips these variables (``_NO_DECAY``).

    Args:
        bias_lr: The factor. Defaults to 1.0.
        **kwargs: ``keras.optimizers.SGD``'s arguments.
    """

    def __init__(self, *args, bias_lr: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias_lr = float(bias_lr)

    def apply_gradients(self, grads_and_vars, *args, **kwargs):
        scaled = [
            (g * self.bias_lr if g is not None and _BN_BIAS.search(v.name) else g, v)
            for g, v in grads_and_vars
        ]
        return super().apply_gradients(scaled, *args, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "bias_lr": self.bias_lr}


_BN_BIAS = re.compile(r"(^|/)beta:")


def _ema_options(config: TrainConfig) -> dict:
    if not config.ema:
        return {}
    every = config.ema_every or None
    return {"use_ema": True, "ema_momentum": config.ema, "ema_overwrite_frequency": every}


def create_optimizer(config: TrainConfig, schedule):
    """SGD with Nesterov momentum, Adam or AdamW, with decoupled weight decay.

    ``config.ema`` turns on the optimizer's weight averaging (``fit`` copies
    the average into the model at its end; ``ema_every`` also every so many
    steps), and ``bn_bias_lr`` scales the LR of BatchNorm biases (SGD).
    """
    decay = config.weight_decay or None
    ema = _ema_options(config)
    if config.optimizer == "sgd":
        sgd = {"momentum": config.momentum, "nesterov": True, "weight_decay": decay, **ema}
        if config.bn_bias_lr != 1.0:
            opt = BiasScaledSGD(schedule, bias_lr=config.bn_bias_lr, **sgd)
        else:
            opt = keras.optimizers.SGD(schedule, **sgd)
    elif config.optimizer == "adamw":
        opt = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, **ema)
    else:
        opt = keras.optimizers.Adam(schedule, **ema)
    if config.optimizer != "adam" and decay:
        opt.exclude_from_weight_decay(var_names=_NO_DECAY)
    return opt
