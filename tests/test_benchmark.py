from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kerasvision.artifact import load_predictor
from kerasvision.benchmark import benchmark_run, throughput
from kerasvision.cli.errors import run_cli
from kerasvision.cli.main import cli
from kerasvision.errors import KVError
from kerasvision.export import plan_exports


@pytest.fixture
def run_copy(digits_run, digits_exports, tmp_path):
    """A copy of the digits run with its fp32/int8 TFLite and ONNX exports."""
    return shutil.copytree(digits_run, tmp_path / "run")


def test_benchmark_measures_the_keras_model_and_every_export_there(run_copy):
    result = benchmark_run(run_copy, threads=1, export=False, max_images=100)
    assert [(r.format, r.precision) for r in result.rows] == [
        ("keras", "fp32"),
        ("tflite", "fp32"),
        ("tflite", "int8"),
        ("onnx", "fp32"),
        ("onnx", "int8"),
    ]
    assert result.images == 100 and result.threads == 1
    keras, tflite = result.rows[0], result.rows[1]
    assert tflite.accuracy == keras.accuracy  # fp32 TFLite predicts what Keras predicts
    for row in result.rows:
        assert 0 < row.size_mb < 1 and row.latency_ms > 0 and row.images_per_s > 0
    assert result.rows[2].size_mb < result.rows[1].size_mb / 2  # int8 vs fp32
    saved = json.loads((run_copy / "benchmark.json").read_text())
    assert saved["rows"][0]["accuracy"] == keras.accuracy
    markdown = (run_copy / "benchmark.md").read_text().splitlines()
    assert markdown[0].startswith("| format | precision | size MB |")
    assert len([line for line in markdown if line.startswith("| ")]) == 2 + len(result.rows)


def test_throughput_counts_images_per_second_at_batch_32(digits_exports):
    predictor = load_predictor(digits_exports["fp32.tflite"], threads=1)
    calls = []
    original = predictor.timed_call

    def counting(batch):
        call = original(batch)
        calls.append(len(batch))
        return call

    predictor.timed_call = counting
    rate = throughput(predictor, np.zeros((5, 8, 8, 1)), batch=32, rounds=1)
    assert sum(calls) == 32 and rate > 0  # five images tiled into one batch of 32


def test_bad_options_are_refused(run_copy):
    with pytest.raises(KVError, match="threads must be at least 1"):
        benchmark_run(run_copy, threads=0)
    with pytest.raises(KVError, match="is not a run directory"):
        benchmark_run(run_copy / "export")


@pytest.mark.slow
def test_kv_benchmark_exports_every_format_this_machine_builds(run_copy, capsys):
    assert run_cli(cli, ["benchmark", str(run_copy), "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    measured = [(r["format"], r["precision"]) for r in result["rows"]]
    assert measured == [("keras", "fp32"), *plan_exports(None)]
    assert result["failures"] == []
