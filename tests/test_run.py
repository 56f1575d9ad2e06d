"""The run directory's layout and its typed metrics."""

from __future__ import annotations

import json

import pytest

from kerasvision.artifact import Artifact, resolve
from kerasvision.errors import KVError
from kerasvision.run import Run, RunMetrics


def test_a_run_names_its_final_model_labels_and_config(digits_run):
    run = Run(digits_run)
    assert run.final_model() == digits_run / "model.keras"
    assert run.labels() == [str(d) for d in range(10)]
    assert run.config().dataset == "digits"
    assert Run.of(run.export_dir / "model-fp32.tflite").path == digits_run.resolve()


def test_metrics_round_trip_through_the_typed_record(digits_run):
    raw = json.loads((digits_run / "metrics.json").read_text())
    metrics = Run(digits_run).metrics()
    assert metrics.val.accuracy == raw["val"]["accuracy"] and metrics.epochs == raw["epochs"]
    assert metrics.held_out[0] == "val" and metrics.distribution.replicas == 1
    assert RunMetrics.from_dict(metrics.to_dict()) == metrics
    assert "test" not in metrics.to_dict()  # None entries are left out


def test_incomplete_metrics_are_one_clear_error():
    with pytest.raises(KVError, match="metrics.json is incomplete"):
        RunMetrics.from_dict({"model": "x"})


def test_resolve_a_run_a_model_file_and_a_missing_path(digits_run, tmp_path):
    artifact, run = resolve(digits_run)
    assert artifact.path == digits_run / "model.keras" and run.path == digits_run
    artifact, run = resolve(digits_run / "model.keras")
    assert artifact.format == "keras" and run.path == digits_run.resolve()
    with pytest.raises(KVError, match="does not exist"):
        resolve(tmp_path / "nothing.tflite")
    (tmp_path / "folder").mkdir()
    with pytest.raises(KVError, match="not a SavedModel"):
        resolve(tmp_path / "folder")


def test_an_artifact_predicts_with_its_own_labels(digits_run, digits_exports):
    import numpy as np

    artifact = Artifact(digits_exports["fp32.tflite"])
    assert artifact.format == "tflite" and artifact.labels == Run(digits_run).labels()
    probs = artifact.predict(np.zeros((2, 8, 8, 1), np.float32))
    assert probs.shape == (2, 10)
    assert artifact.classify(np.zeros((1, 8, 8, 1)))[0] in artifact.labels


def test_a_folder_that_is_not_a_run_is_refused_before_training(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(KVError, match="is not empty and holds no run"):
        Run(tmp_path).check_writable()
