"""Files that deployment stacks accept: strict ONNX tools, TensorRT's Q/DQ rules, DeepStream.

The ONNX files of a grayscale (digits) and of an RGB run pass
``check_model(full_check=True)`` and ``polygraphy check lint``; the int8 ones
follow TensorRT's explicit-quantization rules; the DeepStream config beside
each reads back with the model's values; a file a stack refuses fails the
export, is renamed ``.failed``, and the other formats keep their rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import make_class_folder

from kerasvision.config import build_config
from kerasvision.export import ExportJob, ExportOptions, export_model
from kerasvision.export import onnx as onnx_module
from kerasvision.export.checks import onnx_full_check, polygraphy_lint
from kerasvision.export.deepstream import (
    config_path,
    deepstream_values,
    labels_path,
    read_deepstream,
    read_deepstream_labels,
)
from kerasvision.export.format import CheckContext
from kerasvision.export.qdq import asymmetric_quantizers, int_fed_dequantize
from kerasvision.training import train


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory) -> Path:
    """simple_cnn trained 3 epochs on 12x12 RGB images of three brightness classes."""
    root = tmp_path_factory.mktemp("rgb")
    data = make_class_folder(root / "data", classes=("dark", "mid", "light"), per_class=20)
    overrides = {
        "dataset": str(data),
        "model": "simple_cnn",
        "width": 0.5,
        "image_size": 12,
        "epochs": 3,
        "batch_size": 16,
        "mixed_precision": "off",
        "augment": {"flip": "none", "translate": 0.0},
        "out": str(root / "run"),
    }
    train(build_config(None, overrides))
    return root / "run"


@pytest.fixture(scope="module")
def onnx_exports(digits_run, rgb_run, tmp_path_factory) -> dict[str, object]:
    """Both runs exported to every ONNX precision, verified."""
    out = tmp_path_factory.mktemp("onnx")
    return {
        name: export_model(run, formats=["onnx"], out=out / name, threads=1, max_images=100)
        for name, run in (("gray", digits_run), ("rgb", rgb_run))
    }


def _context(path: Path) -> CheckContext:
    from kerasvision.artifact import read_info

    empty = np.zeros((0, 1))
    return CheckContext(read_info(path), "fp32", empty, empty, empty)


@pytest.mark.parametrize("run", ["gray", "rgb"])
def test_every_onnx_passes_the_full_check_and_polygraphy_lint(onnx_exports, run):
    report = onnx_exports[run]
    assert report.ok, report.failures + [r.to_dict() for r in report.failed]
    assert {r.precision for r in report.results} == {"fp32", "fp16", "int8"}
    for path in report.artifacts:
        for check in (onnx_full_check, polygraphy_lint):
            result = check(path, _context(path))
            assert result.status == "ok", (path.name, result)


@pytest.mark.parametrize("run", ["gray", "rgb"])
def test_int8_onnx_follows_tensorrt_explicit_quantization(onnx_exports, run):
    path = next(p for p in onnx_exports[run].artifacts if p.name.endswith("int8.onnx"))
    model = onnx.load(str(path))
    assert int_fed_dequantize(model) == []  # biases stay float
    assert asymmetric_quantizers(model) == []  # int8, zero point 0
    assert [o.domain for o in model.opset_import] == [""]  # no unused opset imports
    weights = {i.name for i in model.graph.initializer}
    per_channel = [
        n
        for n in model.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in weights and n.attribute
    ]
    assert per_channel, "conv/dense weights carry per-channel scales"


def test_fp16_onnx_keeps_its_metadata(onnx_exports, digits_run):
    path = next(p for p in onnx_exports["gray"].artifacts if p.name.endswith("fp16.onnx"))
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["labels"]) == (digits_run / "labels.txt").read_text().split()


@pytest.mark.parametrize(
    ("run", "color", "dims"), [("gray", "2", "8;8;1"), ("rgb", "0", "12;12;3")]
)
def test_deepstream_config_reads_back_with_the_models_values(onnx_exports, run, color, dims):
    for path in onnx_exports[run].artifacts:
        config = read_deepstream(config_path(path))
        precision = path.stem.rsplit("-", 1)[1]
        assert config["onnx-file"] == path.name
        assert config["model-engine-file"] == path.with_suffix(".engine").name
        assert config["infer-dims"] == dims and config["network-input-order"] == "1"
        assert config["model-color-format"] == color
        assert config["network-mode"] == {"fp32": "0", "fp16": "2", "int8": "1"}[precision]
        assert config["network-type"] == "1"
        assert float(config["net-scale-factor"]) == 1.0
        assert {float(v) for v in config["offsets"].split(";")} == {0.0}
        assert len(config["offsets"].split(";")) == int(dims.rsplit(";", 1)[1])
        labels = read_deepstream_labels(path.parent / config["labelfile-path"])
        assert labels == json.loads(
            {p.key: p.value for p in onnx.load(str(path)).metadata_props}["labels"]
        )
        output = onnx.load(str(path)).graph.output[0].name
        assert config["output-blob-names"] == output


def test_changing_precision_changes_network_mode(onnx_exports):
    from kerasvision.artifact import read_info

    path = onnx_exports["rgb"].artifacts[0]
    info = read_info(path)
    modes = {
        precision: deepstream_values(path, ExportJob(precision, info))["network-mode"]
        for precision in ("fp32", "fp16", "int8")
    }
    assert modes == {"fp32": "0", "fp16": "2", "int8": "1"}
    batch = deepstream_values(path, ExportJob("fp32", info, ExportOptions(batch=(1, 4, 16))))
    assert batch["batch-size"] == "4"
    assert labels_path(path).read_text().count(";") == len(info.labels) - 1


def test_a_file_a_stack_refuses_fails_and_the_other_rows_are_kept(
    digits_run, tmp_path, monkeypatch
):
    real = onnx_module.to_float16

    def unsorted(proto, keep_qdq=False):  # the old converter's bug: nodes out of order
        half = real(proto, keep_qdq)
        nodes = list(half.graph.node)[::-1]
        del half.graph.node[:]
        half.graph.node.extend(nodes)
        return half

    monkeypatch.setattr(onnx_module, "to_float16", unsorted)
    report = export_model(
        digits_run, formats=["tflite", "onnx"], precisions=["fp32", "fp16"], out=tmp_path
    )
    assert not report.ok
    rows = {
        (r["format"], r["precision"]): r
        for r in json.loads((tmp_path / "verification.json").read_text())["artifacts"]
    }
    assert set(rows) == {(f, p) for f in ("tflite", "onnx") for p in ("fp32", "fp16")}
    bad = rows[("onnx", "fp16")]
    assert bad["passed"] is False and bad["path"].endswith("model-fp16.onnx.failed")
    assert bad["checks"]["onnx full check"]["status"] == "failed"
    assert "topologically sorted" in bad["checks"]["onnx full check"]["message"]
    assert all(r["passed"] for key, r in rows.items() if key != ("onnx", "fp16"))
    assert not (tmp_path / "model-fp16.onnx").exists()
    assert not config_path(tmp_path / "model-fp16.onnx").exists()
    assert (tmp_path / "model-fp16.onnx.failed").is_file()
    assert config_path(tmp_path / "model-fp32.onnx").is_file()


def test_a_crash_in_one_format_keeps_the_others(digits_run, tmp_path, monkeypatch):
    def crash(proto, keep_qdq=False):
        raise RuntimeError("InvalidGraph: boom")

    monkeypatch.setattr(onnx_module, "to_float16", crash)
    report = export_model(digits_run, formats=["tflite", "onnx"], precisions=["fp16"], out=tmp_path)
    assert report.failures == [("onnx", "fp16", "InvalidGraph: boom")]
    data = json.loads((tmp_path / "verification.json").read_text())
    assert [(r["format"], r["passed"]) for r in data["artifacts"]] == [("tflite", True)]
    assert data["failures"][0]["error"] == "InvalidGraph: boom"
    assert not any(tmp_path.glob("*.onnx"))


def test_a_precision_that_cannot_be_made_is_refused_before_any_work(digits_run, tmp_path):
    from kerasvision.errors import KVError

    options = ExportOptions(opset=11)
    with pytest.raises(KVError, match="int8 per-channel QuantizeLinear needs opset >= 13"):
        export_model(
            digits_run, formats=["onnx"], precisions=["int8"], options=options, out=tmp_path / "x"
        )
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["qat", "pqat"])
def test_kv_export_with_no_options_exports_every_format_of_a_qat_run(mode, tmp_path):
    from kerasvision.cli.errors import run_cli
    from kerasvision.cli.main import cli
    from kerasvision.export import plan_exports

    overrides = {
        "model": "simple_cnn",
        "width": 0.5,
        "epochs": 2,
        "mixed_precision": "off",
        "augment": {"flip": "none", "translate": 0.0},
        "out": str(tmp_path / "run"),
        "qat": mode,
        **({"prune": 0.5} if mode == "pqat" else {}),
    }
    train(build_config(None, overrides))
    assert run_cli(cli, ["export", str(tmp_path / "run"), "--images", "200"]) == 0
    data = json.loads((tmp_path / "run" / "export" / "verification.json").read_text())
    assert data["failures"] == []
    rows = {(r["format"], r["precision"]): r for r in data["artifacts"]}
    assert set(rows) == set(plan_exports(None))
    for row in rows.values():
        assert row["passed"], row
        assert all(c["status"] in ("ok", "unavailable") for c in row["checks"].values())
    int8 = onnx.load(rows[("onnx", "int8")]["path"])
    assert int_fed_dequantize(int8) == [] and asymmetric_quantizers(int8) == []
