from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from kerasvision.backend import keras
from kerasvision.config import build_config
from kerasvision.errors import KVError
from kerasvision.training import fitting as fitting_module
from kerasvision.training import read_history, train
from kerasvision.training import trainer as trainer_module
from kerasvision.training.plan import plan_phases


def _config(tmp_path, **overrides):
    base = {
        "model": "tiny_cnn",
        "epochs": 2,
        "batch_size": 128,
        "out": str(tmp_path / "run"),
        "mixed_precision": "off",
    }
    return build_config(overrides=base | overrides)


def test_a_run_writes_its_directory(tmp_path):
    result = train(_config(tmp_path))
    run = result.run_dir
    for name in (
        "config.yaml",
        "labels.txt",
        "model.keras",
        "history.csv",
        "metrics.json",
        "training_curves.png",
        "checkpoints/best.keras",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents*"))
    assert (run / "labels.txt").read_text().split() == [str(d) for d in range(10)]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["image_size"] == 8 and config["channels"] == 1  # resolved, not None
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["params"] == result.model.count_params()
    assert 0.0 <= metrics["val"]["accuracy"] <= 1.0 and "top5" in metrics["val"]
    assert [r["epoch"] for r in read_history(run / "history.csv")] == [1, 2]
    assert not list(run.rglob("*.tmp-*"))


def test_the_saved_model_loads_in_plain_keras_and_predicts_the_same(tmp_path):
    result = train(_config(tmp_path, epochs=1))
    batch = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype("float32")
    loaded = keras.models.load_model(result.run_dir / "model.keras")
    np.testing.assert_allclose(
        loaded.predict(batch, verbose=0), result.model.predict(batch, verbose=0), atol=1e-6
    )


def test_a_finished_run_is_kept_unless_overwritten(tmp_path):
    config = _config(tmp_path, epochs=1)
    train(config)
    with pytest.raises(KVError, match="already holds a finished run"):
        train(config)
    assert train(config, overwrite=True).metrics.epochs == 1


def test_an_unfinished_run_with_another_config_is_not_resumed(tmp_path):
    config = _config(tmp_path, epochs=1)
    run = config.run_dir
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"epochs": 99}))
    with pytest.raises(KVError, match="unfinished run with another config.*epochs"):
        train(config)


def test_an_unfinished_run_resumes_only_on_as_many_replicas_as_it_started_on(tmp_path):
    config = _config(tmp_path, epochs=1)
    run = config.run_dir
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"epochs": 1}))
    (run / "checkpoints" / "replicas.json").write_text('{"replicas": 2}')
    with pytest.raises(KVError, match=r"trained on 2 replica\(s\), not 1: resuming would"):
        train(config)
    assert train(config, overwrite=True).metrics.epochs == 1
    assert not (run / "checkpoints" / "replicas.json").exists()  # finished: nothing to resume


def test_a_folder_that_is_not_a_run_is_never_touched(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "thesis.tex").write_text("precious")
    with pytest.raises(KVError, match="not empty and holds no run"):
        train(_config(tmp_path))
    assert (tmp_path / "run" / "thesis.tex").read_text() == "precious"


class _Crash(Exception):
    pass


def test_rerunning_after_a_crash_resumes_without_repeating_epochs(tmp_path, monkeypatch):
    config = _config(tmp_path, epochs=3)
    started: list[int] = []
    original = fitting_module.create_callbacks

    def with_crash(*args, crash: bool, **kwargs):
        class Probe(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                started.append(epoch)

            def on_epoch_end(self, epoch, logs=None):
                if crash and epoch == 1:
                    raise _Crash

        return [*original(*args, **kwargs), Probe()]

    monkeypatch.setattr(
        fitting_module, "create_callbacks", lambda *a, **k: with_crash(*a, crash=True, **k)
    )
    with pytest.raises(_Crash):
        train(config)
    assert not (config.run_dir / "metrics.json").exists()
    monkeypatch.setattr(
        fitting_module, "create_callbacks", lambda *a, **k: with_crash(*a, crash=False, **k)
    )
    result = train(config)
    assert started == [0, 1, 2]  # epochs 0 and 1 ran once, the rerun went on at 2
    assert result.resumed
    assert [r["epoch"] for r in read_history(config.run_dir / "history.csv")] == [1, 2, 3]


def test_pretrained_models_train_frozen_then_fine_tune(tmp_path):
    config = build_config(overrides={"model": "mobilenet_v2", "weights": "x", "epochs": 5})
    model = keras.Sequential([keras.layers.Dense(1, name="backbone")])
    phases = plan_phases(model, config)
    assert [(p.name, p.start, p.end, p.freeze_backbone) for p in phases] == [
        ("frozen", 0, 2, True),
        ("fine_tune", 2, 5, False),
    ]
    scratch = plan_phases(model, build_config(overrides={"epochs": 5}))
    assert [p.name for p in scratch] == ["train"]


def test_freeze_epochs_past_the_run_keep_the_backbone_frozen_throughout():
    config = build_config(
        overrides={"model": "mobilenet_v2", "weights": "x", "epochs": 3, "freeze_epochs": 3}
    )
    model = keras.Sequential([keras.layers.Dense(1, name="backbone")])
    phases = plan_phases(model, config)
    assert [(p.name, p.start, p.end, p.freeze_backbone) for p in phases] == [("frozen", 0, 3, True)]


def test_time_budget_caps_the_epochs(tmp_path):
    config = _config(tmp_path, model="simple_cnn", epochs=500, batch_size=16, time=0.1)
    result = train(config)  # six seconds; an epoch takes a good fraction of one
    assert 1 <= result.metrics.epochs < 500
    assert result.metrics.train_seconds < 30


def test_mixed_precision_training_saves_a_float32_model_and_restores_the_policy(tmp_path):
    result = train(_config(tmp_path, epochs=1, mixed_precision="bfloat16"))
    assert result.metrics.precision_policy == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
    loaded = keras.models.load_model(result.run_dir / "model.keras")
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    batch = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(batch, verbose=0), result.model.predict(batch, verbose=0), atol=1e-2
    )


def test_mixed_precision_metrics_are_those_of_the_saved_float32_model(tmp_path):
    config = _config(tmp_path, epochs=1, mixed_precision="bfloat16")
    result = train(config)
    loaded = keras.models.load_model(result.run_dir / "model.keras")
    images, labels = zip(*trainer_module.load_data(config).val, strict=True)
    probs = loaded.predict(np.concatenate(images), verbose=0)
    labels = np.concatenate(labels)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    val = result.metrics.val
    assert val.loss == pytest.approx(float(loss(labels, probs)), abs=1e-5)
    assert val.accuracy == pytest.approx(np.mean(probs.argmax(1) == labels.argmax(1)), abs=1e-6)


def test_disk_cache_lives_in_the_run_directory(tmp_path):
    result = train(_config(tmp_path, epochs=1, cache="disk"))
    assert any((result.run_dir / "cache").iterdir())
    again = train(_config(tmp_path, epochs=1, cache="disk"), overwrite=True)
    assert again.metrics.epochs == 1


def test_pretrained_backbone_is_frozen_first_then_fine_tuned(tmp_path):
    from kerasvision.models import create_model

    donor = create_model("mobilenet_v2", num_classes=10, input_shape=(32, 32, 3), width=0.35)
    weights = tmp_path / "backbone.weights.h5"
    donor.get_layer("backbone").save_weights(weights)
    config = _config(
        tmp_path,
        model="mobilenet_v2",
        width=0.35,
        weights=str(weights),
        image_size=32,
        epochs=2,
        freeze_epochs=1,
        batch_size=256,
    )
    result = train(config)
    assert result.metrics.input_shape == [32, 32, 3]  # digits turned RGB for the weights
    assert [r["epoch"] for r in read_history(result.run_dir / "history.csv")] == [1, 2]
    assert not list((result.run_dir / "checkpoints").glob("*.weights.h5"))
    backbone = result.model.get_layer("backbone")
    assert backbone.trainable  # fine-tuned in the second phase
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(
            donor.get_layer("backbone").get_weights(), backbone.get_weights(), strict=True
        )
    ]
    assert any(changed)


def _val_images(config) -> np.ndarray:
    data = trainer_module.load_data(config)
    return np.concatenate([images.numpy() for images, _ in data.val])


def test_the_seed_leaves_the_split_alone_and_the_split_seed_moves_it(tmp_path):
    reference = _val_images(_config(tmp_path, seed=1))
    np.testing.assert_array_equal(_val_images(_config(tmp_path, seed=2)), reference)
    moved = _val_images(_config(tmp_path, seed=1, split_seed=7))
    assert moved.shape == reference.shape
    assert not np.array_equal(moved, reference)
