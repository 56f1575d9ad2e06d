from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from kerasvision.errors import KVError
from kerasvision.evaluation import (
    compute_metrics,
    evaluate,
    most_confused,
    one_vs_rest_auc,
    read_results,
)

LABELS = ["airplane", "bird", "cat", "dog", "frog", "ship", "truck"]


@pytest.fixture
def predictions():
    """A fixed prediction set: 300 rows, 7 classes, right about 60% of the time."""
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, len(LABELS), 300)
    probs = rng.dirichlet(np.ones(len(LABELS)), 300)
    boost = rng.random(300) < 0.5
    probs[boost, y_true[boost]] += 1.0
    return y_true, probs / probs.sum(axis=1, keepdims=True)


def test_metrics_match_scikit_learn(predictions):
    y_true, probs = predictions
    y_pred = probs.argmax(axis=1)
    result = compute_metrics(y_true, probs, LABELS)

    assert result.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-6)
    assert result.top5 == pytest.approx(skm.top_k_accuracy_score(y_true, probs, k=5), abs=1e-6)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred)
    assert [c["precision"] for c in result.per_class] == pytest.approx(precision, abs=1e-6)
    assert [c["recall"] for c in result.per_class] == pytest.approx(recall, abs=1e-6)
    assert [c["f1"] for c in result.per_class] == pytest.approx(f1, abs=1e-6)
    assert [c["support"] for c in result.per_class] == support.tolist()
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average)
        mine = getattr(result, average)
        assert (mine["precision"], mine["recall"], mine["f1"]) == pytest.approx((p, r, f), abs=1e-6)
        auc = skm.roc_auc_score(y_true, probs, multi_class="ovr", average=average)
        assert mine["roc_auc"] == pytest.approx(auc, abs=1e-6)
    assert result.confusion == skm.confusion_matrix(y_true, y_pred).tolist()


def test_per_class_auc_is_one_vs_rest(predictions):
    y_true, probs = predictions
    result = compute_metrics(y_true, probs, LABELS)
    for k, row in enumerate(result.per_class):
        expected = skm.roc_auc_score(y_true == k, probs[:, k])
        assert row["roc_auc"] == pytest.approx(expected, abs=1e-6)


def test_auc_works_on_quantized_outputs_that_do_not_sum_to_one(predictions):
    y_true, probs = predictions
    quantized = np.round(probs * 0.97 * 255) / 255  # what an int8 model's outputs look like
    with pytest.raises(ValueError):
        skm.roc_auc_score(y_true, quantized, multi_class="ovr")
    result = compute_metrics(y_true, quantized, LABELS)
    assert result.macro["roc_auc"] == pytest.approx(
        np.mean([skm.roc_auc_score(y_true == k, quantized[:, k]) for k in range(len(LABELS))])
    )


def test_a_class_missing_from_the_data_gets_no_auc_but_the_others_do(predictions):
    y_true, probs = predictions
    keep = y_true != 3
    result = compute_metrics(y_true[keep], probs[keep], LABELS)
    assert result.per_class[3]["roc_auc"] is None and result.per_class[3]["support"] == 0
    assert all(row["roc_auc"] is not None for k, row in enumerate(result.per_class) if k != 3)
    assert result.macro["roc_auc"] == pytest.approx(
        np.mean([row["roc_auc"] for row in result.per_class if row["roc_auc"] is not None]),
        abs=1e-6,
    )
    assert one_vs_rest_auc(np.zeros(4, int), np.full((4, 2), 0.5)) == [None, None]


def test_most_confused_pairs_are_the_largest_off_diagonal_cells_first():
    confusion = np.array([[5, 3, 0], [1, 4, 2], [0, 3, 6]])
    pairs = most_confused(confusion, ["a", "b", "c"], n=3)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("a", "b", 3),
        ("c", "b", 3),
        ("b", "c", 2),
    ]
    assert pairs[0]["rate"] == pytest.approx(3 / 8)
    assert most_confused(np.eye(3, dtype=int), ["a", "b", "c"]) == []


def test_bad_shapes_are_reported():
    with pytest.raises(KVError, match=r"shape \(N, 7\)"):
        compute_metrics(np.zeros(3), np.ones((3, 2)), LABELS)
    with pytest.raises(KVError, match="3 labels for 2 predictions"):
        compute_metrics(np.zeros(3), np.ones((2, 7)), LABELS)


def test_evaluate_a_run_writes_metrics_and_a_confusion_matrix(digits_run):
    from PIL import Image

    result, folder = evaluate(digits_run)
    assert folder == digits_run / "eval" / "model-keras"
    saved = json.loads((folder / "metrics.json").read_text())
    confusion = np.array(saved["confusion"])
    assert confusion.sum() == saved["images"] == 359  # the run's validation split
    assert saved["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-6)
    assert saved["labels"] == [str(d) for d in range(10)]
    assert read_results(folder).to_dict() == result.to_dict()
    with Image.open(folder / "confusion_matrix.png") as image:
        assert image.size[0] > 200


def test_evaluate_on_another_split_and_bad_split_names(digits_run):
    result, folder = evaluate(digits_run, split="all", out="")
    assert folder is None and result.images == 1797
    with pytest.raises(KVError, match="has no test split"):
        evaluate(digits_run, split="test", out="")
    with pytest.raises(KVError, match="unknown split 'tset'"):
        evaluate(digits_run, split="tset", out="")


def test_kv_eval_tta_averages_over_views_and_records_it(digits_run, capsys):
    import json

    from kerasvision.cli.main import main

    assert main(["eval", str(digits_run), "--tta", "flip", "--json", "-o", ""]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tta"] == "flip" and 0.0 <= result["accuracy"] <= 1.0
    assert main(["eval", str(digits_run), "--tta", "mirror"]) == 2  # click refuses the choice
