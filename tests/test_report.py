from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from kerasvision.report import build_report, html_table, model_rows

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (.ci/run installs Debian's chromium)"
)


class _Tags(HTMLParser):
    """Collects the tags and the attributes that can load something."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.sources: list[tuple[str, str]] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_h2 = tag == "h2"
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster"):
                self.sources.append((tag, value or ""))

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


@pytest.fixture(scope="module")
def report(digits_run, digits_exports, tmp_path_factory) -> Path:
    return build_report(digits_run, out=tmp_path_factory.mktemp("report") / "report.html")


def test_report_is_one_self_contained_page(report):
    from PIL import Image

    parsed = _Tags()
    parsed.feed(report.read_text(encoding="utf-8"))
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert parsed.sources, "the report has no pictures"
    for tag, source in parsed.sources:
        assert tag == "img" and source.startswith("data:image/png;base64,"), source[:60]
        with Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))) as image:
            assert image.format == "PNG" and min(image.size) > 10
    assert parsed.headings == [
        "Models",
        "Training curves",
        "Evaluation",
        "Grad-CAM",
        "Config",
    ]
    # Training curves, the confusion matrix and one Grad-CAM example per class (6 asked).
    assert len(parsed.sources) == 1 + 1 + 6


def test_report_compares_the_model_with_its_exports_and_lists_every_class(report, digits_run):
    page = report.read_text(encoding="utf-8")
    for name in ("model-fp32.tflite", "model-int8.tflite", "model-fp32.onnx", "model-int8.onnx"):
        assert f"<td>{name}</td>" in page
    metrics = json.loads((digits_run / "eval" / "model-keras" / "metrics.json").read_text())
    for row in metrics["per_class"]:
        assert f"<td>{row['label']}</td><td>{row['precision']:.4f}</td>" in page
    assert "model: simple_cnn" in page  # the config, verbatim


def _stage(model: str, params: int, val: float, test: float | None = None, sparsity=None):
    from kerasvision.run import PruningFigures, RunMetrics, SplitMetrics

    pruning = None
    if sparsity is not None:
        pruning = PruningFigures(0.5, "unstructured", sparsity, sparsity, gzip_bytes=1)
    return RunMetrics(
        model=model,
        dataset="cifar10",
        classes=10,
        input_shape=[32, 32, 3],
        params=params,
        counts={"train": 8, "val": 2},
        epochs=1,
        val=SplitMetrics(val, 1.0),
        test=None if test is None else SplitMetrics(test, 1.0),
        pruning=pruning,
    )


def test_comparison_rows_cover_stages_and_pruning(tmp_path):
    from kerasvision.run import Run

    (tmp_path / "teacher.keras").write_bytes(b"x" * 2_000_000)
    metrics = _stage("simple_cnn", 5_000, 0.8, 0.79, 0.5)
    metrics.stages = {
        "teacher": _stage("resnet20", 274_042, 0.9),
        "pruned": _stage("simple_cnn", 5_000, 0.8, 0.79, 0.5),
    }
    rows = model_rows(Run(tmp_path), metrics)
    assert [r[0] for r in rows] == ["teacher", "pruned"]
    assert rows[0][2] == "274,042" and rows[0][4] == "2.000" and rows[1][4] == "-"
    assert rows[1][3] == "50%" and rows[1][5].startswith("0.7900 (test")


def test_table_cells_are_escaped():
    table = html_table(["<th>"], [["<img src=x onerror=alert(1)>"]])
    assert "<img" not in table and "&lt;img src=x onerror=alert(1)&gt;" in table


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@needs_chromium
def test_chromium_loads_every_image_of_the_report(report, tmp_path):
    # A copy of the page reports, once loaded, each image's state in its title.
    probe = (
        "<script>window.addEventListener('load', () => { document.title = 'loaded:' + "
        "JSON.stringify([...document.images].map(i => [i.complete, i.naturalWidth])); });"
        "</script></body>"
    )
    page = tmp_path / "probe.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", probe))
    done = _chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    found = re.search(r"<title>loaded:(.*?)</title>", done.stdout)
    assert found, done.stderr[-2000:]
    images = json.loads(found.group(1))
    assert len(images) == 8
    assert all(complete and width > 0 for complete, width in images)


@needs_chromium
def test_chromium_screenshot_of_the_report_is_not_blank(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    _chromium("--window-size=1200,2400", f"--screenshot={shot}", report.as_uri())
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[:2] == (2400, 1200)
    # Text, tables and plots: far from a page of one colour.
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500
