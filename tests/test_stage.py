"""Compression inside ``kv train`` (``kerasvision.compress.stage`` and the trainer)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import yaml

from kerasvision.backend import keras
from kerasvision.cli.errors import run_cli
from kerasvision.cli.main import cli
from kerasvision.compress.pruning import gzip_size, is_pruning
from kerasvision.compress.qat import is_quantized
from kerasvision.config import build_config, stage_configs
from kerasvision.models.saving import load_model
from kerasvision.run import QATFigures
from kerasvision.training import train

BASE = {"batch_size": 128, "mixed_precision": "off", "augment": {"translate": 0.0}}


def kv(*args: str) -> int:
    return run_cli(cli, list(args))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished digits run of simple_cnn at width 0.25 (about 5k parameters)."""
    out = tmp_path_factory.mktemp("base") / "run"
    config = build_config(
        overrides=BASE | {"model": "simple_cnn", "width": 0.25, "epochs": 2, "out": str(out)}
    )
    train(config)
    return out


def test_pruning_a_trained_run_saves_a_sparse_plain_model_and_its_table(tmp_path, trained_run):
    out = tmp_path / "pruned"
    config = build_config(
        overrides=BASE
        | {
            "init": str(trained_run),
            "prune": {"sparsity": 0.6, "end": 0.5},
            "epochs": 2,
            "out": str(out),
            "model": "resnet20",
            "mixed_precision": "bfloat16",
        }
    )
    result = train(config)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["precision_policy"] == "float32"  # tfmot's masks are float32
    pruning = metrics["pruning"]
    assert pruning["sparsity"] == pytest.approx(0.6, abs=0.01)
    assert pruning["gzip_bytes"] == gzip_size(out / "model.keras")
    steps = 2 * math.ceil(metrics["counts"]["train"] / 128)
    assert 0 < pruning["schedule"]["end_step"] <= steps / 2  # prune.end 0.5: half the run
    rows = {row["layer"]: row for row in pruning["layers"]}
    assert not rows["stage1_block1_conv"]["pruned"] and not rows["logits"]["pruned"]
    assert rows["fc"]["sparsity"] == pytest.approx(0.6, abs=0.01)
    # The run is the init model fine-tuned: its name, input and parameter count.
    assert metrics["model"] == "simple_cnn" and metrics["init"] == str(trained_run)
    assert metrics["params"] == json.loads((trained_run / "metrics.json").read_text())["params"]
    assert yaml.safe_load((out / "config.yaml").read_text())["image_size"] == 8
    assert not is_pruning(result.model)
    plain = keras.models.load_model(out / "model.keras", compile=False)  # stripped: no tfmot
    x = np.random.default_rng(0).uniform(0, 16, (4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        plain.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6
    )
    # The best checkpoint is as plain, and from an epoch at the target sparsity.
    best = keras.models.load_model(out / "checkpoints" / "best.keras", compile=False)
    kernel = best.get_layer("fc").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.6, abs=0.01)


def test_qat_trains_in_float32_and_saves_a_model_that_reloads(tmp_path, trained_run):
    out = tmp_path / "qat"
    config = build_config(
        overrides=BASE
        | {
            "init": str(trained_run),
            "qat": "qat",
            "epochs": 1,
            "out": str(out),
            "mixed_precision": "bfloat16",
        }
    )
    metrics = train(config).metrics
    assert metrics.precision_policy == "float32"
    assert metrics.qat == QATFigures("qat", float_layers=["normalize (Rescaling)"], inlined=[])
    assert is_quantized(load_model(out / "model.keras"))


@pytest.mark.slow
def test_a_recipe_runs_teacher_student_pruned_qat_and_keeps_each_model(tmp_path):
    recipe = tmp_path / "edge.yaml"
    recipe.write_text(
        yaml.safe_dump(
            BASE
            | {
                "epochs": 1,
                "stages": {
                    "teacher": {"model": "simple_cnn", "width": 0.5},
                    "student": {"model": "simple_cnn", "width": 0.25, "teacher": "teacher"},
                    "pruned": {"init": "student", "teacher": "teacher", "prune": 0.5},
                    "qat": {"init": "pruned", "teacher": "teacher", "qat": True},
                },
            },
            sort_keys=False,
        )
    )
    out = tmp_path / "run"
    metrics = train(build_config(str(recipe), {"out": str(out)})).metrics
    for name in ("teacher", "student", "pruned", "qat"):
        assert (out / f"{name}.keras").is_file(), name
    assert list(metrics.stages) == ["teacher", "student", "pruned", "qat"]
    assert metrics.final_model == "qat.keras"
    pruned = metrics.stages["pruned"]
    assert pruned.pruning.sparsity == pytest.approx(0.5, abs=0.01)
    assert pruned.teacher.path.endswith("teacher.keras")  # still distilling
    assert pruned.init.endswith("student.keras")
    assert metrics.qat.scheme == "pqat"  # auto: the model it starts from is pruned
    assert is_quantized(load_model(out / "qat.keras"))


def test_prune_and_qat_without_stages_run_as_two_stages(tmp_path, trained_run, capsys):
    out = tmp_path / "both"
    args = ["train", "--init", str(trained_run), "--prune", "0.5", "--qat", "-e", "1"]
    assert kv(*args, "-b", "128", "--mixed-precision", "off", "-o", str(out)) == 0
    assert (out / "pruned.keras").is_file() and (out / "qat.keras").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["stages"]) == ["pruned", "qat"] and metrics["qat"]["scheme"] == "pqat"
    printed = capsys.readouterr().out
    assert "PQAT" in printed and "stage pruned" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prune", "0.5", "--prune-exclude", "stage9_*"], "matches no prunable layer"),
        (["--prune", "0.3", "--prune-structure", "2:4"], "2:4 zeroes half of every pruned"),
        (["--prune", "0.3", "--prune-structure", "2:4"], "so --prune must be 0.5, got 0.3"),
        (["--prune", "1.5"], "--prune must be between 0 and 0.99, got 1.5"),
        (["--set", "prune.sparsity=1.5"], "prune.sparsity must be between 0 and 0.99"),
        (["--qat", "int8"], "unknown --qat 'int8'"),
        (["--prune", "0.5", "--time", "2"], "prune.sparsity and time cannot be combined"),
    ],
)
def test_bad_compression_options_are_one_line_and_write_nothing(
    tmp_path, trained_run, capsys, args, message
):
    out = tmp_path / "run"
    assert kv("train", "--init", str(trained_run), *args, "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kv: error: ") and message in err
    assert not out.exists()


def test_an_init_model_for_other_data_is_refused(tmp_path, trained_run, image_folder, capsys):
    assert (
        kv("train", "--init", str(trained_run), "-d", str(image_folder), "-o", str(tmp_path / "r"))
        == 1
    )
    assert "the init model predicts 10 classes, the data has 2" in capsys.readouterr().err
    assert kv("train", "--init", str(tmp_path / "none.keras"), "-o", str(tmp_path / "r")) == 1
    assert "init model not found" in capsys.readouterr().err


def test_the_cifar10_edge_int8_recipe_prunes_then_quantizes_the_edge_student():
    stages = dict(stage_configs(build_config("cifar10-edge-int8")))
    edge = dict(stage_configs(build_config("cifar10-edge")))
    assert list(stages) == ["teacher", "student", "pruned", "qat"]
    for name in ("teacher", "student"):  # the same stages, with other shares of --time
        assert dataclasses.replace(stages[name], budget_share=None) == dataclasses.replace(
            edge[name], budget_share=None
        )
    pruned, qat = stages["pruned"], stages["qat"]
    assert (pruned.init, pruned.prune.sparsity, pruned.prune.end, pruned.teacher) == (
        "student",
        0.5,
        0.5,
        "teacher",
    )
    assert (qat.init, qat.qat, qat.prune.sparsity) == ("pruned", "auto", 0.0)


def test_a_quantization_aware_model_is_not_compressed_again(tmp_path, trained_run, capsys):
    out = tmp_path / "qat"
    qat_args = ["train", "--init", str(trained_run), "--qat", "qat", "-e", "1", "-b", "128"]
    assert kv(*qat_args, "-o", str(out)) == 0
    capsys.readouterr()
    assert kv("train", "--init", str(out), "--prune", "0.5", "-o", str(tmp_path / "again")) == 1
    assert "already quantization-aware" in capsys.readouterr().err
