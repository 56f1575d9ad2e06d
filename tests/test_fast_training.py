"""The airbench tricks as kv train options: alternating flip, EMA, BN-bias LR, whitening, TTA."""

from __future__ import annotations

import numpy as np
import pytest

from kerasvision.backend import keras, tf
from kerasvision.config import AugmentConfig, build_config
from kerasvision.data import create_dataset
from kerasvision.distill import Distiller
from kerasvision.errors import KVError
from kerasvision.models import create_model
from kerasvision.models.saving import load_model
from kerasvision.training import train
from kerasvision.training.optim import BiasScaledSGD, create_optimizer


def _flat(ds, count):
    images = []
    for x, _ in ds:
        images.extend(x.numpy())
        if len(images) >= count:
            return np.stack(images[:count])
    raise AssertionError("the training split ended")


def test_alternating_flip_mirrors_each_image_in_every_other_epoch(image_folder):
    kwargs = dict(image_size=12, batch_size=5, val_split=0.25)
    plain = create_dataset(str(image_folder), augment=None, **kwargs)
    n = plain.counts["train"]
    originals = _flat(plain.train, n)
    alternate = AugmentConfig(flip="alternate", translate=0.0)
    data = create_dataset(str(image_folder), augment=alternate, **kwargs)
    assert data.train_steps == -(-n // 5)
    stream = _flat(data.train, 3 * n)
    oriented = []
    for epoch in range(3):
        seen = stream[epoch * n : (epoch + 1) * n]
        flags = {}
        for i, image in enumerate(originals):
            upright = any(np.array_equal(image, s) for s in seen)
            mirrored = any(np.array_equal(image[:, ::-1], s) for s in seen)
            assert upright != mirrored, "each image once per epoch, one way round"
            flags[i] = mirrored
        oriented.append(flags)
    assert all(oriented[0][i] != oriented[1][i] for i in oriented[0])
    assert oriented[0] == oriented[2]
    assert 0 < sum(oriented[0].values()) < n  # a random part mirrored first


def _config(**keys):
    return build_config(None, keys)


def test_ema_is_the_optimizers_moving_average_and_every_copies_it_in():
    opt = create_optimizer(_config(ema=0.9, ema_every=5), 0.1)
    assert opt.use_ema and opt.ema_momentum == 0.9 and opt.ema_overwrite_frequency == 5
    assert create_optimizer(_config(ema=0.9), 0.1).ema_overwrite_frequency is None
    assert not create_optimizer(_config(), 0.1).use_ema


def _bn_net():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, outputs)


def test_bn_bias_lr_scales_only_the_batchnorm_biases_update():
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    moved = {}
    for name, opt in (
        ("plain", keras.optimizers.SGD(0.1)),
        ("scaled", BiasScaledSGD(0.1, bias_lr=4.0)),
    ):
        model = _bn_net()
        before = {w.name: w.numpy().copy() for w in model.trainable_weights}
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True) * tf.constant([1.0, -2.0, 0.5]))
        grads = tape.gradient(loss, model.trainable_weights)
        opt.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        moved[name] = {w.name: w.numpy() - before[w.name] for w in model.trainable_weights}
    for key, delta in moved["plain"].items():
        factor = 4.0 if "beta" in key else 1.0
        np.testing.assert_allclose(moved["scaled"][key], factor * delta, rtol=1e-5, atol=1e-7)
    assert create_optimizer(_config(bn_bias_lr=8.0), 0.1).bias_lr == 8.0


def test_bn_bias_lr_is_refused_for_adaptive_optimizers():
    with pytest.raises(KVError, match="bn_bias_lr works with optimizer sgd only"):
        _config(optimizer="adam", bn_bias_lr=4.0)


def test_teacher_tta_averages_the_teachers_logits_over_the_mirror():
    keras.utils.set_random_seed(0)
    teacher = create_model("tiny_cnn", num_classes=3, input_shape=(8, 8, 1))
    student = create_model("tiny_cnn", num_classes=3, input_shape=(8, 8, 1))
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype(np.float32))
    plain = Distiller(teacher=teacher, student=student)
    tta = Distiller(teacher=teacher, student=student, teacher_tta="flip")
    expected = (plain.teacher_targets(x) + plain.teacher_targets(tf.reverse(x, axis=[2]))) / 2
    np.testing.assert_allclose(tta.teacher_targets(x), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain.teacher_targets(x), expected)
    assert Distiller.from_config(tta.get_config()).teacher_tta == "flip"


def test_airbench_trains_with_every_trick_and_saves_its_whitened_conv(tmp_path):
    from conftest import make_class_folder

    folder = make_class_folder(tmp_path / "img", per_class=8, size=24)
    config = build_config(
        None,
        {
            "dataset": str(folder),
            "model": "airbench",
            "width": 0.125,
            "whiten": True,
            "ema": 0.9,
            "ema_every": 2,
            "bn_bias_lr": 4.0,
            "label_smoothing": 0.2,
            "epochs": 3,
            "batch_size": 4,
            "val_split": 0.25,
            "mixed_precision": "off",
            "augment": {"flip": "alternate", "translate": 0.1},
            "out": str(tmp_path / "run"),
        },
    )
    result = train(config)
    assert result.metrics.epochs == 3 and result.metrics.val.accuracy >= 0.0
    saved = load_model(tmp_path / "run" / "model.keras")
    kernel = saved.get_layer("whiten").get_weights()[0]
    fresh = create_model("airbench", num_classes=2, input_shape=(24, 24, 3), width=0.125)
    assert not saved.get_layer("whiten").trainable
    assert not np.allclose(kernel, fresh.get_layer("whiten").get_weights()[0])
    np.testing.assert_allclose(kernel[..., :12], -kernel[..., 12:])


def test_whiten_on_a_model_without_the_layer_fails_before_training(tmp_path, capsys):
    from kerasvision.cli.errors import run_cli
    from kerasvision.cli.main import cli

    args = ["train", "-d", "digits", "-m", "tiny_cnn", "--whiten", "-e", "1"]
    assert run_cli(cli, [*args, "-o", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "kv: error: --whiten needs a model with a 'whiten' convolution (airbench); "
        "tiny_cnn has none"
    ]
    assert not (tmp_path / "r").exists()


def test_a_staged_run_splits_its_time_budget_and_says_what_each_stage_got(tmp_path):
    stages = {
        "teacher": {"model": "tiny_cnn", "budget_share": 1.0},
        "student": {"model": "tiny_cnn", "teacher": "teacher", "budget_share": 1.0},
    }
    config = build_config(
        None,
        {
            "dataset": "digits",
            "time": 0.3,
            "epochs": 500,
            "mixed_precision": "off",
            "precise_bn": 0,
            "stages": stages,
            "out": str(tmp_path / "run"),
        },
    )
    m = train(config).metrics
    assert m.budget_minutes == 0.3 and m.wall_seconds is not None
    teacher, student = m.stages["teacher"], m.stages["student"]
    assert 0.1 <= teacher.budget_minutes <= 0.15  # half of the budget, less set-up time
    assert student.budget_minutes <= 0.3 - teacher.train_seconds / 60 + 1e-6
    assert teacher.epochs < 500 and student.epochs < 500  # stopped by the budget


@pytest.mark.parametrize(
    ("size", "model", "expected"),
    [(24, None, "cifar10-fast"), (24, "tiny_cnn", None), (80, None, None)],
)
def test_a_folder_of_small_images_without_a_recipe_gets_the_fast_recipe(
    tmp_path, size, model, expected
):
    from conftest import make_class_folder

    from kerasvision.api import default_recipe

    folder = make_class_folder(tmp_path / "img", per_class=2, size=size)
    overrides = {"dataset": str(folder), **({"model": model} if model else {})}
    assert default_recipe(overrides) == expected
    assert default_recipe({"dataset": "digits"}) is None
