"""The Python API: cheap to import, and the same path as the CLI from training to int8."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def test_importing_kerasvision_does_not_load_tensorflow(tmp_path):
    code = "import sys, kerasvision as kv; kv.Run; kv.resolve; print('tensorflow' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert proc.stdout.strip() == "False"


def test_an_unknown_name_is_an_attribute_error():
    import kerasvision

    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        kerasvision.trian  # noqa: B018


def test_train_export_predict_evaluate(tmp_path):
    import kerasvision as kv

    run = kv.train(
        "digits-simple",
        model="tiny_cnn",
        epochs=1,
        mixed_precision="off",
        out=str(tmp_path / "run"),
    )
    assert isinstance(run, kv.Run) and run.metrics().epochs == 1
    (artifact,) = kv.export_run(run, formats=["tflite"], precisions=["int8"], max_drop=100)
    assert artifact.format == "tflite" and artifact.info.precision == "int8"
    images, _ = artifact.heldout().arrays(20)
    probs = artifact.predict(images)
    assert probs.shape == (20, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=0.05)
    evaluation = kv.evaluate(artifact)
    assert evaluation.images == run.metrics().counts["val"] == artifact.heldout().count
    assert evaluation.precision == "int8" and 0.0 <= evaluation.accuracy <= 1.0
