"""Metrics on hand-computed examples, including the paper's mislabelled columns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeling.evaluate import classification_metrics, paper_row, per_dimension_mae, regression_metrics


def test_regression_metrics_by_hand():
    pred = [0.1, 0.4, 0.5, 0.9]
    gt = [0.2, 0.4, 0.7, 0.8]
    m = regression_metrics(pred, gt)
    # errors -0.1, 0, -0.2, 0.1: squares .01 0 .04 .01 -> mse .015; abs .1 0 .2 .1 -> mae .1
    assert m["mse"] == pytest.approx(0.015)
    assert m["rmse"] == pytest.approx(math.sqrt(0.015))
    assert m["mae"] == pytest.approx(0.1)
    assert m["paper_mse"] == pytest.approx(math.sqrt(0.015 + 1e-8))
    assert m["paper_mae"] == pytest.approx(math.sqrt(0.1 + 1e-8))
    # ranks of pred 1,2,3,4; of gt 1,2,3,4 except 0.7 < 0.8 -> same order -> SRCC = KRCC = 1
    assert m["srcc"] == pytest.approx(1.0)
    assert m["krcc"] == pytest.approx(1.0)
    p, g = np.array(pred), np.array(gt)
    plcc = np.sum((p - p.mean()) * (g - g.mean())) / np.sqrt(
        np.sum((p - p.mean()) ** 2) * np.sum((g - g.mean()) ** 2)
    )
    assert m["plcc"] == pytest.approx(plcc)


def test_correlations_are_absolute():
    m = regression_metrics([0.9, 0.5, 0.1], [0.1, 0.5, 0.9])
    assert (
        m["plcc"] == pytest.approx(1.0)
        and m["srcc"] == pytest.approx(1.0)
        and m["krcc"] == pytest.approx(1.0)
    )


def test_classification_metrics_by_hand():
    # gt levels: bad, poor, fair, good ; predicted: bad, fair, fair, excellent
    gt = [0.1, 0.3, 0.5, 0.7]
    pred = [0.05, 0.45, 0.55, 0.85]
    m = classification_metrics(pred, gt)
    assert m["accuracy"] == pytest.approx(0.5)
    # labels = {bad, poor, fair, good, excellent}; precision: bad 1, poor 0, fair 1/2, good 0, excellent 0
    assert m["precision"] == pytest.approx((1 + 0 + 0.5 + 0 + 0) / 5)
    # recall: bad 1, poor 0, fair 1, good 0, excellent 0 (no true excellent -> zero_division 0)
    assert m["recall"] == pytest.approx((1 + 0 + 1 + 0 + 0) / 5)
    # f1: bad 1, fair 2*(.5*1)/(1.5) = 2/3, others 0
    assert m["f1"] == pytest.approx((1 + 2 / 3) / 5)


def test_labels_are_union_of_true_and_pred():
    m = classification_metrics([0.9, 0.9], [0.9, 0.9])
    assert m == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_gt_text_level_wins():
    m = classification_metrics([0.5], [0.5], gt_levels=["good"])
    assert m["accuracy"] == 0.0


def test_level_boundaries_lower_inclusive():
    m = classification_metrics([0.2, 0.8], [0.25, 0.99])
    assert m["accuracy"] == 1.0


def test_per_dimension_mae_and_paper_row():
    pred = np.zeros((2, 12))
    gt = np.tile(np.linspace(0, 1.1, 12), (2, 1))
    gt[1, 0] = 0.5
    mae = per_dimension_mae(pred, gt)
    assert mae["facial_brightness"] == pytest.approx(0.25)
    assert mae["overall"] == pytest.approx(1.1)
    row = paper_row(
        {**regression_metrics([0.1, 0.2], [0.2, 0.1]), **classification_metrics([0.1], [0.1])}, "m"
    )
    assert row["mse"] == round(math.sqrt(0.01 + 1e-8), 4)
    assert row["mae"] == round(math.sqrt(0.1 + 1e-8), 4)
