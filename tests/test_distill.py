from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from kerasvision.backend import keras, tf
from kerasvision.config import build_config
from kerasvision.distill import Distiller, logits_model
from kerasvision.errors import KVError
from kerasvision.models import create_model
from kerasvision.models.saving import policy_copy
from kerasvision.training import train
from kerasvision.training.trainer import make_distiller


def _models(teacher_size=8, student_size=8, classes=3):
    keras.utils.set_random_seed(0)
    teacher = create_model("tiny_cnn", num_classes=classes, input_shape=(teacher_size,) * 2 + (1,))
    student = create_model("tiny_cnn", num_classes=classes, input_shape=(student_size,) * 2 + (1,))
    return teacher, student


def _batch(n=16, size=8, classes=3):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n, size, size, 1)).astype("float32")
    return x, keras.utils.to_categorical(rng.integers(0, classes, n), classes)


def _compiled(distiller):
    distiller.compile(keras.optimizers.SGD(0.1), metrics=["accuracy"])
    return distiller


def test_the_teacher_does_not_change_during_fit():
    teacher, student = _models()
    before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller = _compiled(Distiller(teacher=teacher, student=student))
    distiller.fit(*_batch(), epochs=2, batch_size=4, verbose=0)
    for a, b in zip(before, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b) for a, b in zip(student_before, student.get_weights(), strict=True)
    )


def test_alpha_one_is_exactly_the_plain_cross_entropy():
    teacher, student = _models()
    distiller = Distiller(teacher=teacher, student=student, alpha=1.0, temperature=3.0)
    x, y = _batch()
    s_logits = logits_model(student)(x)
    t_logits = logits_model(teacher)(x)
    loss, _, _ = distiller.distillation_loss(y, t_logits, s_logits)
    plain = keras.losses.categorical_crossentropy(y, tf.nn.softmax(s_logits))
    np.testing.assert_allclose(loss.numpy(), plain.numpy(), rtol=1e-5, atol=1e-6)


def test_temperature_scaling_matches_a_hand_computed_value():
    teacher, student = _models()
    distiller = Distiller(teacher=teacher, student=student, alpha=0.0, temperature=2.0)
    t_logits = np.array([[2.0, 0.0, -2.0]], "float32")
    s_logits = np.array([[0.0, 1.0, 0.0]], "float32")
    p = np.exp(t_logits / 2) / np.exp(t_logits / 2).sum()
    q = np.exp(s_logits / 2) / np.exp(s_logits / 2).sum()
    expected = 4.0 * np.sum(p * np.log(p / q))  # T^2 * KL(p || q)
    loss, _, _ = distiller.distillation_loss(np.eye(3, dtype="float32")[:1], t_logits, s_logits)
    assert float(loss[0]) == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(1.3585, abs=1e-3)  # the number itself, by hand


def test_a_teacher_with_another_input_size_gets_resized_images():
    teacher, student = _models(teacher_size=16, student_size=8)
    distiller = _compiled(Distiller(teacher=teacher, student=student))
    history = distiller.fit(*_batch(), epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert distiller.teacher_inputs(tf.zeros((2, 8, 8, 1))).shape == (2, 16, 16, 1)


def test_a_cifar_mobilenet_student_distills_from_its_logits():
    keras.utils.set_random_seed(0)
    shape = (32, 32, 3)
    teacher = create_model("resnet20", num_classes=3, input_shape=shape)
    student = create_model("mobilenet_v2_cifar", num_classes=3, input_shape=shape, width=0.35)
    x = np.random.default_rng(0).uniform(0, 255, (8, *shape)).astype("float32")
    logits = logits_model(student)(x)
    np.testing.assert_allclose(tf.nn.softmax(logits), student(x), atol=1e-6)
    before = student.get_layer("block2_expand_conv").get_weights()[0].copy()
    distiller = _compiled(Distiller(teacher=teacher, student=student))
    history = distiller.fit(x, np.eye(3, dtype="float32")[[0, 1, 2, 0] * 2], epochs=1, verbose=0)
    assert np.isfinite(history.history["distillation_loss"][0])
    assert not np.array_equal(before, student.get_layer("block2_expand_conv").get_weights()[0])


def test_metrics_are_the_students():
    teacher, student = _models()
    distiller = _compiled(Distiller(teacher=teacher, student=student))
    x, y = _batch()
    result = distiller.evaluate(x, y, verbose=0, return_dict=True)
    expected = keras.metrics.categorical_accuracy(y, student.predict(x, verbose=0)).numpy().mean()
    assert result["accuracy"] == pytest.approx(expected)


def test_config_holds_alpha_and_temperature():
    teacher, student = _models()
    config = Distiller(teacher=teacher, student=student, alpha=0.3, temperature=5.0).get_config()
    assert config["alpha"] == 0.3 and config["temperature"] == 5.0
    again = Distiller.from_config(config)
    assert again.alpha == 0.3 and again.temperature == 5.0


def test_bad_arguments_are_refused():
    teacher, student = _models()
    with pytest.raises(ValueError, match="alpha"):
        Distiller(teacher=teacher, student=student, alpha=1.5)
    with pytest.raises(ValueError, match="classes"):
        Distiller(teacher=teacher, student=_models(classes=4)[1])


def test_saved_student_reloads_in_plain_tf_keras_and_predicts_the_same(tmp_path):
    teacher, student = _models()
    distiller = _compiled(Distiller(teacher=teacher, student=student))
    x, y = _batch()
    distiller.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "student.keras"
    distiller.save(path)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import os, sys, numpy as np; os.environ['TF_USE_LEGACY_KERAS'] = '1'; "
        "import tf_keras; d = sys.argv[1]; "
        "m = tf_keras.models.load_model(d + '/student.keras'); "
        "np.save(d + '/p.npy', m.predict(np.load(d + '/x.npy'), verbose=0)); "
        "assert 'kerasvision' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    np.testing.assert_allclose(
        np.load(tmp_path / "p.npy"), student.predict(x, verbose=0), atol=1e-6
    )


def test_a_bfloat16_teacher_copy_computes_in_bfloat16_and_labels_like_the_float32_one():
    teacher, _ = _models()
    x, _ = _batch()
    fast = policy_copy(teacher, "mixed_bfloat16")
    computes = {layer.compute_dtype for layer in fast.layers if layer.weights}
    assert computes == {"bfloat16"}
    assert {layer.compute_dtype for layer in teacher.layers} == {"float32"}
    expected = teacher.predict(x, verbose=0)
    got = fast.predict(x, verbose=0).astype("float32")
    assert np.argmax(got, 1).tolist() == np.argmax(expected, 1).tolist()
    np.testing.assert_allclose(got, expected, atol=3e-2)


@pytest.mark.parametrize(
    ("mixed_precision", "compute"), [("bfloat16", "bfloat16"), ("off", "float32")]
)
def test_the_distillers_teacher_infers_under_the_runs_precision(tmp_path, mixed_precision, compute):
    path = tmp_path / "t.keras"
    _models()[0].save(path)
    config = build_config(
        overrides={"teacher": str(path), "mixed_precision": mixed_precision, "prune": 0.5}
    )
    student = create_model("tiny_cnn", num_classes=3, input_shape=(8, 8, 1))
    distiller = make_distiller(config, student, SimpleNamespace(num_classes=3))
    assert distiller.teacher.get_layer("logits").compute_dtype == compute
    # Pruning trains the student in float32; the frozen teacher still infers fast.
    assert student.get_layer("logits").compute_dtype == "float32"


def test_train_with_a_teacher_run_directory(tmp_path):
    base = {"model": "tiny_cnn", "epochs": 1, "batch_size": 256}
    teacher = train(build_config(overrides=base | {"out": str(tmp_path / "t")}))
    result = train(
        build_config(overrides=base | {"out": str(tmp_path / "s"), "teacher": str(teacher.run_dir)})
    )
    assert result.metrics.teacher.params == teacher.metrics.params
    assert result.metrics.distill == {"alpha": 0.1, "temperature": 4.0}
    history = (tmp_path / "s" / "history.csv").read_text().splitlines()[0]
    assert "distillation_loss" in history


def test_a_teacher_with_other_classes_is_refused(tmp_path):
    path = tmp_path / "t.keras"
    create_model("tiny_cnn", num_classes=4, input_shape=(8, 8, 1)).save(path)
    config = build_config(
        overrides={
            "model": "tiny_cnn",
            "epochs": 1,
            "teacher": str(path),
            "out": str(tmp_path / "s"),
        }
    )
    with pytest.raises(KVError, match="teacher predicts 4 classes, the data has 10"):
        train(config)
    with pytest.raises(KVError, match="teacher not found"):
        train(
            build_config(
                overrides={"teacher": str(tmp_path / "none.keras"), "out": str(tmp_path / "s2")}
            )
        )


def test_staged_recipe_trains_teacher_then_student(tmp_path):
    config = build_config(
        overrides={
            "epochs": 1,
            "batch_size": 256,
            "out": str(tmp_path / "run"),
            "stages": {
                "teacher": {"model": "simple_cnn"},
                "student": {"model": "tiny_cnn", "teacher": "teacher"},
            },
        }
    )
    result = train(config)
    run = tmp_path / "run"
    assert (run / "teacher.keras").is_file() and (run / "student.keras").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final_model"] == "student.keras"
    assert list(metrics["stages"]) == ["teacher", "student"]
    assert metrics["teacher"]["path"].endswith("teacher.keras")
    assert result.metrics.model == "tiny_cnn"
    student_config = (run / "stages" / "student" / "config.yaml").read_text()
    assert "teacher.keras" in student_config


def test_shipped_edge_recipes_declare_teacher_then_student():
    for name in ("digits-edge", "cifar10-edge"):
        config = build_config(name)
        assert list(config.stages) == ["teacher", "student"]
        assert config.stages["student"]["teacher"] == "teacher"
