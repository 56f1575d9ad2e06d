"""``build_report``: one self-contained HTML page about a run.

The page holds the config, the training curves, a table comparing the run's
models (teacher, student, pruned, ...) with its exported artifacts (measured
by ``kv benchmark``, or verified by ``kv export``), the confusion matrix, the
per-class metrics and a few Grad-CAM examples. Every picture is a PNG inlined
as a ``data:`` URI and the styles are inline, so the file can be mailed or
archived alone; it loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerasvision import __version__
from kerasvision.errors import KVError, bad_value
from kerasvision.evaluation import Evaluation, default_output, evaluate, read_results
from kerasvision.fileio import write_text
from kerasvision.heldout import heldout
from kerasvision.run import METRICS, Run, RunMetrics

log = logging.getLogger(__name__)

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 24px; color: #1f2328; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 4px;
       margin-top: 36px; }
.sub { color: #59636e; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 16px; min-width: 120px; }
.card b { display: block; font-size: 1.4em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: right; }
td { white-space: nowrap; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; text-align: center; font-size: 0.9em; }
figure img { width: 200px; image-rendering: pixelated; }
pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 0.85em; }
"""


@dataclass
class Section:
    """One titled part of the page (its body is HTML)."""

    title: str
    body: str


def png_data_uri(source: str | Path | bytes) -> str:
    """A PNG file (or PNG bytes) as a ``data:image/png;base64,...`` URI."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def array_png(array: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_esc(alt)}">'


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or digits == 0:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _measured(run: Run) -> tuple[dict[str, dict[str, Any]], str]:
    """Figures per artifact path: ``kv benchmark``'s when it ran, else ``kv export``'s."""
    bench = _read_json(run.benchmark_json)
    if bench and bench.get("rows"):
        rows = {Path(r["path"]).name: r for r in bench["rows"]}
        note = (
            f"Accuracy, latency and throughput measured by <code>kv benchmark</code> on "
            f"{_num(bench.get('images'))} held-out images ({_esc(bench.get('data'))}) with "
            f"{_esc(bench.get('threads') or 'default')} CPU thread(s) on "
            f"{_esc(bench.get('machine'))}."
        )
        return rows, note
    verification = _read_json(run.verification_json) or {}
    rows = {}
    for row in [verification.get("keras") or {}, *verification.get("artifacts", [])]:
        if row.get("path"):
            rows[Path(row["path"]).name] = row
    note = (
        "Exported artifacts as verified by <code>kv export</code> on the held-out images; "
        "<code>kv benchmark</code> adds throughput."
        if rows
        else "No exports yet: <code>kv benchmark RUN_DIR</code> (or <code>kv export</code>) "
        "adds them here."
    )
    return rows, note


def model_rows(run: Run, metrics: RunMetrics) -> list[list[Any]]:
    """Rows of the comparison table: the run's models, then its exported artifacts.

    A stage's accuracy is the one measured at the end of its training; an
    exported artifact's, and the final model's latency, come from
    ``benchmark.json`` or ``export/verification.json``.
    """
    measured, _ = _measured(run)
    rows = []
    stages = metrics.stages or {"model": metrics}
    for name, stage in stages.items():
        file = run.model_path(name)
        split, figures = stage.held_out
        sparsity = stage.pruning.model_sparsity if stage.pruning else None
        speed = measured.get(file.name, {})
        rows.append(
            [
                name,
                f"keras fp32 ({stage.model})",
                _num(stage.params),
                "-" if sparsity is None else f"{sparsity:.0%}",
                _num(file.stat().st_size / 1e6, 3) if file.is_file() else "-",
                f"{_num(figures.accuracy)} ({split}, metrics.json)",
                _num(speed.get("latency_ms"), 3),
                _num(speed.get("images_per_s"), 0),
            ]
        )
    for name, row in measured.items():
        if row.get("format") == "keras":
            continue
        rows.append(
            [
                name,
                f"{row['format']} {row['precision']}",
                "-",
                "-",
                _num(row.get("size_mb"), 3),
                _num(row.get("accuracy")),
                _num(row.get("latency_ms"), 3),
                _num(row.get("images_per_s"), 0),
            ]
        )
    return rows


def _comparison(run: Run, metrics: RunMetrics) -> Section:
    header = [
        "model",
        "format",
        "params",
        "sparsity",
        "size MB",
        "accuracy",
        "ms/image (batch 1)",
        "images/s (batch 32)",
    ]
    _, note = _measured(run)
    return Section("Models", html_table(header, model_rows(run, metrics)) + f"<p>{note}</p>")


def _curves(run: Run, metrics: RunMetrics) -> Section | None:
    found = []
    if run.curves.is_file():
        found.append(("", run.curves))
    for name in metrics.stages or {}:  # in training order
        png = run.stage(name).curves
        if png.is_file():
            found.append((name, png))
    if not found:
        return None
    body = "".join(
        (f"<h3>{_esc(name)}</h3>" if name else "") + _img(png_data_uri(png), f"{name} curves")
        for name, png in found
    )
    return Section("Training curves", body)


def _evaluation(result: Evaluation, folder: Path) -> Section:
    cm = folder / "confusion_matrix.png"
    body = f"<p>{_esc(result.model)} on {_esc(result.dataset)}: {result.images:,} images.</p>"
    if cm.is_file():
        body += _img(png_data_uri(cm), "confusion matrix")
    if result.most_confused:
        body += "<h3>Most confused</h3>" + html_table(
            ["true", "predicted", "images", "share of true class"],
            [
                [p["true"], p["predicted"], p["count"], f"{p['rate']:.1%}"]
                for p in result.most_confused
            ],
        )
    rows = [
        [
            c["label"],
            _num(c["precision"]),
            _num(c["recall"]),
            _num(c["f1"]),
            _num(c["roc_auc"]),
            c["support"],
        ]
        for c in result.per_class
    ]
    for name, avg in (("macro avg", result.macro), ("weighted avg", result.weighted)):
        rows.append(
            [name, *(_num(avg[k]) for k in ("precision", "recall", "f1", "roc_auc")), result.images]
        )
    body += "<h3>Per class</h3>" + html_table(
        ["class", "precision", "recall", "F1", "ROC AUC (one-vs-rest)", "images"], rows
    )
    return Section("Evaluation", body)


def _examples(model_path: Path, run: Run, count: int) -> Section | None:
    """Grad-CAM of the first held-out image of ``count`` different classes."""
    from kerasvision.explain import grad_cam, overlay
    from kerasvision.predictor import KerasPredictor

    if count < 1:
        return None
    predictor = KerasPredictor(model_path)
    data = heldout(predictor.input_shape, predictor.labels, run=run)
    chosen: dict[int, np.ndarray] = {}
    for images, labels in data.batches():
        for image, label in zip(images, labels, strict=True):
            if int(label) not in chosen:
                chosen[int(label)] = image
        if len(chosen) >= count:
            break
    picks = sorted(chosen.items())[:count]
    if not picks:
        return None
    cam = grad_cam(predictor.model, np.stack([image for _, image in picks]))
    figures = []
    for (label, image), heat, probs in zip(picks, cam.heatmaps, cam.probs, strict=True):
        predicted = int(probs.argmax())
        caption = (
            f"true {predictor.labels[label]}, predicted {predictor.labels[predicted]} "
            f"({probs[predicted]:.2f})"
        )
        uri = png_data_uri(array_png(overlay(image, heat, min_side=160)))
        figures.append(f"<figure>{_img(uri, caption)}<figcaption>{_esc(caption)}</figcaption>")
        figures[-1] += "</figure>"
    note = f"<p>Grad-CAM on layer <code>{_esc(cam.layer)}</code>, for the predicted class.</p>"
    return Section("Grad-CAM", note + '<div class="grid">' + "".join(figures) + "</div>")


def _final_evaluation(model_path: Path, run: Run, threads: int | None):
    """The final model's evaluation, reused from ``RUN/eval/`` when newer than the model."""
    folder = default_output(model_path, run)
    saved = folder / METRICS
    if saved.is_file() and saved.stat().st_mtime >= model_path.stat().st_mtime:
        try:
            return read_results(folder), folder
        except (TypeError, json.JSONDecodeError, KeyError):
            pass
    return evaluate(model_path, threads=threads)


def render_html(title: str, subtitle: str, cards: list[tuple[str, str]], sections) -> str:
    """The page: a title, headline cards and sections."""
    card_html = "".join(f'<div class="card">{_esc(k)}<b>{_esc(v)}</b></div>' for k, v in cards)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>",
        f'<h1>{_esc(title)}</h1><p class="sub">{_esc(subtitle)}</p>',
        f'<div class="cards">{card_html}</div>',
    ]
    for section in sections:
        parts.append(f"<section><h2>{_esc(section.title)}</h2>{section.body}</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def build_report(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    examples: int = 6,
    threads: int | None = None,
) -> Path:
    """Writes one self-contained HTML page about a finished run.

    Args:
        run_dir: The run directory.
        out: The HTML file. Defaults to None (``RUN/report.html``).
        examples: Grad-CAM examples (one per class, up to this many).
            Defaults to 6.
        threads: CPU threads for the evaluation. Defaults to None.

    Returns:
        The HTML file.
    """
    run = Run(run_dir)
    if not run.path.is_dir():
        raise KVError(f"{run.path} is not a run directory")
    if examples < 0:
        raise bad_value("examples", f"must be 0 or more, got {examples}")
    model_path = run.final_model()
    metrics = run.metrics()
    result, folder = _final_evaluation(model_path, run, threads)
    config = run.config_file.read_text(encoding="utf-8")
    sections = [
        _comparison(run, metrics),
        _curves(run, metrics),
        _evaluation(result, folder),
        _examples(model_path, run, examples),
        Section("Config", f"<pre>{_esc(config)}</pre>"),
    ]
    sections = [section for section in sections if section is not None]
    cards = [
        ("model", metrics.model),
        ("parameters", f"{metrics.params:,}"),
        ("accuracy", f"{result.accuracy:.4f}"),
        (f"top-{result.top_k}", f"{result.top5:.4f}"),
        ("macro F1", f"{result.macro['f1']:.4f}"),
        ("held-out images", f"{result.images:,}"),
    ]
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    subtitle = (
        f"{metrics.dataset} · final model {model_path.name} · "
        f"generated {when} by kerasvision {__version__}"
    )
    page = render_html(f"kv report: {run.path.resolve().name}", subtitle, cards, sections)
    path = Path(out) if out else run.report_html
    write_text(path, page)
    return path
