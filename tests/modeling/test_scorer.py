"""Scorer output shapes (ArtiMuse-like) and the CLIs."""

from __future__ import annotations

import json

import pytest

from annotation.standards.humanbeauty import DIMENSION_KEYS, LEVELS
from modeling import scorer as scorer_module
from modeling.data import load_release
from modeling.evaluate import evaluate_records, evaluate_release
from modeling.scorer import Scorer


@pytest.fixture(scope="module")
def scorer(trained_checkpoint):
    return Scorer(trained_checkpoint, device="cpu", batch_size=3)


def test_eval_image(scorer, release_dir):
    path = load_release(release_dir).test[0].image_path
    result = scorer.eval_image(path)
    assert result["image"] == str(path)
    assert set(result["dimensions"]) == set(DIMENSION_KEYS)
    for key in ("score", "final_score", "lm_score", "regression_score", "expert_overall"):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["score"] == result["final_score"]
    assert result["rating_level"] in LEVELS
    assert result["heads_disagreement"] >= 0
    assert result["expert_overall"] == result["dimensions"]["overall"]


def test_eval_dataset_keeps_order_and_batching_is_consistent(scorer, release_dir):
    paths = [s.image_path for s in load_release(release_dir).test]
    results = scorer.eval_dataset(paths)
    assert [r["image"] for r in results] == paths
    single = scorer.eval_image(paths[-1])
    assert single["score"] == pytest.approx(results[-1]["score"], abs=1e-5)


def test_evaluate_release_and_records(scorer, release_dir):
    result = evaluate_release(scorer, release_dir)
    assert result["n"] == 4 and result["release_version"] == "test-0.1"
    assert set(result["heads"]) == {"lm", "regression", "expert", "metavoter"}
    for metrics in result["heads"].values():
        assert {
            "mse",
            "rmse",
            "mae",
            "plcc",
            "srcc",
            "krcc",
            "paper_mse",
            "paper_mae",
            "accuracy",
            "f1",
        } <= set(metrics)
    assert set(result["per_dimension_mae"]) == set(DIMENSION_KEYS)
    records = [{"image": s.image_path, "gt_score": s.overall} for s in load_release(release_dir).test]
    zero_shot = evaluate_records(scorer, records)
    assert zero_shot["heads"]["metavoter"]["mae"] == pytest.approx(result["heads"]["metavoter"]["mae"])


def test_cli_image_and_dataset(trained_checkpoint, release_dir, tmp_path, capsys):
    path = load_release(release_dir).test[0].image_path
    assert (
        scorer_module.main(["image", path, "--checkpoint", str(trained_checkpoint), "--device", "cpu"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["image"] == path
    out = tmp_path / "results.json"
    source = release_dir / "HumanBeauty-58K" / "images"
    argv = [
        "dataset",
        str(source),
        "--checkpoint",
        str(trained_checkpoint),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert scorer_module.main(argv) == 0
    results = json.loads(out.read_text())
    assert len(results) == 5 and {"image", "score"} <= set(results[0])
