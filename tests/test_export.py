"""kv export: every format round-trips through its own runtime and is verified."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from kerasvision.artifact import load_predictor, read_info
from kerasvision.cli.errors import run_cli
from kerasvision.cli.main import cli
from kerasvision.config import build_config
from kerasvision.errors import KVError
from kerasvision.export import ExportOptions, export_model, plan_exports
from kerasvision.export import exporter as exporter_module
from kerasvision.export.formats import tensorrt_missing
from kerasvision.training import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A simple_cnn trained on digits for a few epochs (about 90% accurate)."""
    out = tmp_path_factory.mktemp("export") / "run"
    config = build_config(
        overrides={
            "dataset": "digits",
            "model": "simple_cnn",
            "width": 0.5,
            "epochs": 6,
            "batch_size": 64,
            "out": str(out),
            "mixed_precision": "off",
        }
    )
    train(config)
    return out


@pytest.fixture(scope="module")
def report(run_dir):
    return export_model(run_dir, threads=2, max_images=400)


def _row(report, fmt, precision):
    return next(r for r in report.results if (r.format, r.precision) == (fmt, precision))


def test_every_cpu_format_and_precision_is_exported_and_verified(report):
    pairs = {(r.format, r.precision) for r in report.results}
    assert pairs == {
        ("saved_model", "fp32"),
        ("tflite", "fp32"),
        ("tflite", "fp16"),
        ("tflite", "dynamic"),
        ("tflite", "int8"),
        ("onnx", "fp32"),
        ("onnx", "fp16"),
        ("onnx", "int8"),
    }
    assert report.ok, [r.to_dict() for r in report.failed] + report.failures
    assert report.reference.accuracy > 0.8


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_fp32_artifacts_match_keras_within_1e4(report, fmt):
    assert _row(report, fmt, "fp32").max_abs_diff <= 1e-4


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_int8_artifacts_agree_with_keras_on_97_percent(report, fmt):
    row = _row(report, fmt, "int8")
    assert row.agreement >= 0.97
    # Q/DQ ONNX keeps per-channel scales and int32 biases: smaller, not 4x smaller, on tiny models
    assert row.size_mb < _row(report, fmt, "fp32").size_mb / (2 if fmt == "tflite" else 1.5)


def test_int8_tflite_takes_uint8_pixels_by_default(report):
    predictor = load_predictor(_row(report, "tflite", "int8").path)
    assert predictor.input_details["dtype"] == np.uint8
    scale, zero = predictor.input_details["quantization"]
    assert zero == 0 and scale == pytest.approx(1.0, rel=0.05)  # raw pixels need no rescaling


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_metadata_read_back_equals_the_run_labels(report, run_dir, fmt):
    labels = (run_dir / "labels.txt").read_text().split()
    info = read_info(_row(report, fmt, "fp32").path)
    assert info.labels == labels
    # A phone's TFLite file takes RGB and turns it gray inside; the others keep the model's input.
    assert info.input_shape == ([8, 8, 3] if fmt == "tflite" else [8, 8, 1])
    assert info.format == fmt


def test_tflite_file_is_also_a_zip_with_labels(report, run_dir):
    with zipfile.ZipFile(_row(report, "tflite", "int8").path) as archive:
        labels = archive.read("labels.txt").decode()
    assert labels == (run_dir / "labels.txt").read_text()


def test_onnx_labels_are_in_metadata_props(report, run_dir):
    model = onnx.load(_row(report, "onnx", "int8").path)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["labels"]) == (run_dir / "labels.txt").read_text().split()
    assert any(node.op_type == "QuantizeLinear" for node in model.graph.node)


def test_verification_json_holds_every_artifact(report, run_dir):
    data = json.loads((run_dir / "export" / "verification.json").read_text())
    assert len(data["artifacts"]) == len(report.results)
    assert data["keras"]["format"] == "keras"


@pytest.mark.parametrize(
    ("fmt", "stacks"),
    [
        ("tflite", ["LiteRT", "TFLite metadata", "MediaPipe ImageClassifier"]),
        ("onnx", ["onnxruntime", "onnx full check", "polygraphy lint", "TensorRT"]),
        ("saved_model", ["TensorFlow", "SavedModel signature"]),
    ],
)
def test_each_artifact_says_where_it_was_proven_to_run(run_dir, fmt, stacks):
    data = json.loads((run_dir / "export" / "verification.json").read_text())
    for row in (r for r in data["artifacts"] if r["format"] == fmt):
        assert list(row["checks"]) == stacks
        assert row["checks"][stacks[0]]["status"] == "ok"  # the runtime ran it and agreed
        assert all(c["status"] in ("ok", "unavailable") for c in row["checks"].values())
        assert all(c["message"] for c in row["checks"].values())


def test_saved_model_is_written_in_tf_serving_layout(report):
    folder = _row(report, "saved_model", "fp32").path
    assert (Path(folder) / "1" / "saved_model.pb").is_file()
    assert read_info(Path(folder) / "1").labels == read_info(folder).labels
    bare = load_predictor(Path(folder) / "1")  # a bare SavedModel folder also loads
    assert bare.input_shape == (8, 8, 1)


def test_blank_calibration_trips_the_verification_gate(run_dir, tmp_path, monkeypatch):
    real = exporter_module.load_export_data

    def blank(*args, **kwargs):
        data = real(*args, **kwargs)
        data.calibration = np.zeros_like(data.calibration)
        return data

    monkeypatch.setattr(exporter_module, "load_export_data", blank)
    args = ["export", str(run_dir), "-f", "tflite", "-p", "int8", "--out", str(tmp_path)]
    assert run_cli(cli, args) == 1
    rows = json.loads((tmp_path / "verification.json").read_text())["artifacts"]
    assert rows[0]["passed"] is False and rows[0]["drop_points"] > 1.0


def test_invalid_combination_is_rejected_before_any_work(run_dir, tmp_path, capsys):
    args = ["export", str(run_dir), "-f", "saved_model", "-p", "int8", "--out", str(tmp_path / "x")]
    assert run_cli(cli, args) == 1
    assert "saved_model does not take precision int8" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("formats", "precisions", "message"),
    [
        (["tflite2"], None, "unknown export format 'tflite2'"),
        (None, ["int4"], "unknown precision 'int4'"),
        (["onnx"], ["dynamic"], "onnx does not take precision dynamic"),
    ],
)
def test_plan_rejects_bad_names(formats, precisions, message):
    with pytest.raises(KVError, match=message):
        plan_exports(formats, precisions)


def test_io_type_without_an_int8_tflite_is_rejected():
    with pytest.raises(KVError, match=r"^io_type applies to tflite int8 exports"):
        plan_exports(["onnx"], ["int8"], io_type_given=True)


def test_an_option_no_planned_format_takes_is_rejected_with_its_flag(run_dir, capsys):
    args = ["export", str(run_dir), "-f", "tflite", "--opset", "13"]
    assert run_cli(cli, args) == 1
    assert "--opset applies to onnx fp32/fp16/int8 exports" in capsys.readouterr().err


def test_engine_is_chained_after_its_onnx():
    assert plan_exports(["engine"], ["fp16"]) == [("onnx", "fp16"), ("engine", "fp16")]


def test_bad_batch_profile_is_rejected():
    with pytest.raises(KVError, match="min <= opt <= max"):
        ExportOptions(batch=(8, 1, 32)).validate()


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT and a GPU are present here")
def test_engine_without_tensorrt_fails_with_the_trtexec_command(run_dir, tmp_path, capsys):
    args = ["export", str(run_dir), "-f", "engine", "-p", "fp32", "--out", str(tmp_path)]
    assert run_cli(cli, args) == 1
    err = capsys.readouterr().err
    assert "trtexec --onnx=" in err and "--minShapes=image:1x8x8x1" in err
    assert (tmp_path / "model-fp32.onnx").is_file()  # the file to build it from
    assert not (tmp_path / "model-fp32.engine").exists()


@pytest.mark.gpu
@pytest.mark.skipif(tensorrt_missing() is not None, reason=f"needs TensorRT: {tensorrt_missing()}")
def test_engine_builds_and_agrees_with_keras(run_dir, tmp_path):
    result = export_model(run_dir, formats=["engine"], precisions=["fp16"], out=tmp_path)
    assert result.ok
    engine = _row(result, "engine", "fp16")
    assert engine.agreement >= 0.97
    assert read_info(engine.path).extra["tensorrt"]


def test_a_model_file_outside_a_run_needs_a_dataset(run_dir, tmp_path, capsys):
    model = tmp_path / "copy.keras"
    model.write_bytes((run_dir / "model.keras").read_bytes())
    with pytest.raises(KVError, match="^dataset is needed: copy.keras is not in a run"):
        export_model(model, formats=["tflite"], precisions=["fp32"])
    assert run_cli(cli, ["export", str(model), "-f", "tflite", "-p", "fp32"]) == 1
    assert "kv: error: --dataset is needed: copy.keras" in capsys.readouterr().err
    result = export_model(model, formats=["tflite"], precisions=["fp32"], dataset="digits")
    assert result.ok and (tmp_path / "export" / "copy-fp32.tflite").is_file()


def test_a_write_that_fails_halfway_leaves_no_file(run_dir, tmp_path, monkeypatch):
    from pathlib import Path

    real = Path.write_bytes
    written = []

    def disk_full(self, data):  # half the bytes land, then the disk is full
        real(self, data[: len(data) // 2])
        written.append(self)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    result = export_model(run_dir, formats=["tflite"], precisions=["fp32"], out=tmp_path)
    monkeypatch.undo()
    assert written and written[0].parent == tmp_path and written[0].name != "model-fp32.tflite"
    assert result.failures == [("tflite", "fp32", "[Errno 28] No space left on device")]
    assert list(tmp_path.iterdir()) == [tmp_path / "verification.json"]


def test_a_dataset_with_a_subset_of_classes_verifies_in_the_models_numbering(run_dir, tmp_path):
    from conftest import digit_folder

    from kerasvision.evaluation import evaluate

    folder = str(digit_folder(tmp_path / "five-to-nine"))  # folder ids 0-4 are digits 5-9
    result = export_model(
        run_dir, formats=["tflite"], precisions=["fp32"], dataset=folder, out=tmp_path / "x"
    )
    evaluation, _ = evaluate(run_dir, dataset=folder, out="")
    assert result.ok and result.reference.images == evaluation.images == 60
    assert result.reference.accuracy == pytest.approx(evaluation.accuracy)
    assert evaluation.accuracy > 0.6  # read in the folder's own order it would be near 0


def test_an_int8_export_of_a_family_known_to_lose_accuracy_says_so(run_dir, tmp_path, monkeypatch):
    from kerasvision.models import int8

    said = []
    monkeypatch.setattr(int8, "int8_warning", lambda name: f"{name} loses accuracy at int8")
    result = export_model(
        run_dir, formats=["tflite"], precisions=["int8"], out=tmp_path, progress=said.append
    )
    warning = "simple_cnn loses accuracy at int8; the int8 rows below show what this model lost"
    assert warning in result.notes and warning in said
    fp32 = export_model(run_dir, formats=["tflite"], precisions=["fp32"], out=tmp_path / "f")
    assert not any("int8" in note for note in fp32.notes)
