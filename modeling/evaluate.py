"""Evaluation: the paper's metrics (pure numpy/scipy/sklearn) and release / zero-shot drivers.

Regression metrics: MSE, RMSE, MAE and |PLCC|, |SRCC|, |KRCC| (absolute values of scipy's pearsonr,
spearmanr, kendalltau (tau-b), no logistic fit, as the public ``judge_answer.py``). Classification over
the five levels: accuracy and macro precision / recall / F1 (labels = y_true U y_pred, zero division 0).

The paper's table columns are reproduced under their own names because they are mislabelled upstream:
``paper_mse`` = sqrt(mean((p - g)^2) + 1e-8), i.e. RMSE; ``paper_mae`` = sqrt(mean(|p - g|) + 1e-8),
i.e. sqrt(MAE). Compare with the paper only through these two.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from annotation.standards.humanbeauty import LEVEL_CLASS_ID, level_for
from modeling.configuration import ModelStandard

PAPER_EPS = 1e-8


def _abs_corr(fn, pred: np.ndarray, gt: np.ndarray) -> float:
    if len(pred) < 2 or np.std(pred) == 0 or np.std(gt) == 0:
        return float("nan")
    return float(abs(fn(pred, gt)[0]))


def level_ids(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Class ids of judge_answer.py (excellent 0 ... bad 4)."""
    return np.array([LEVEL_CLASS_ID[level_for(float(min(max(s, 0.0), 1.0)))] for s in scores], dtype=int)


def regression_metrics(pred: Sequence[float], gt: Sequence[float]) -> dict[str, float]:
    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"pred and gt must be equal-length 1-d, got {p.shape} and {g.shape}")
    err = p - g
    mse = float(np.mean(err**2))
    mae = float(np.mean(np.abs(err)))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": mae,
        "plcc": _abs_corr(stats.pearsonr, p, g),
        "srcc": _abs_corr(stats.spearmanr, p, g),
        "krcc": _abs_corr(stats.kendalltau, p, g),
        "paper_mse": float(np.sqrt(mse + PAPER_EPS)),  # the paper's "MSE" column (really RMSE)
        "paper_mae": float(np.sqrt(mae + PAPER_EPS)),  # the paper's "MAE" column (really sqrt(MAE))
    }


def classification_metrics(
    pred: Sequence[float], gt: Sequence[float], gt_levels: Sequence[str | None] | None = None
) -> dict[str, float]:
    """Accuracy and macro P/R/F1 over the 5 levels. ``gt_levels`` (e.g. the 58K ``text_level``) wins
    over the level mapped from the gt score where given."""
    y_pred = level_ids(pred)
    y_true = level_ids(gt)
    if gt_levels is not None:
        y_true = np.array(
            [LEVEL_CLASS_ID[lv] if lv else t for lv, t in zip(gt_levels, y_true, strict=True)], dtype=int
        )
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
    }


def score_metrics(
    pred: Sequence[float], gt: Sequence[float], gt_levels: Sequence[str | None] | None = None
) -> dict[str, float]:
    return {**regression_metrics(pred, gt), **classification_metrics(pred, gt, gt_levels)}


def per_dimension_mae(
    pred: np.ndarray, gt: np.ndarray, standard: ModelStandard | None = None
) -> dict[str, float]:
    """MAE per dimension (paper Table 3) over [N, D] arrays, by the standard's keys (HumanBeauty's by
    default)."""
    keys = (standard or ModelStandard()).dimension_keys
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape[1:] != (len(keys),) or gt.shape[1:] != (len(keys),):
        raise ValueError(f"expected [N, {len(keys)}] arrays, got {pred.shape} and {gt.shape}")
    return {key: float(np.mean(np.abs(pred[:, i] - gt[:, i]))) for i, key in enumerate(keys)}


def metrics_from_head_scores(
    scores: dict[str, np.ndarray],
    gt_overall: Sequence[float],
    *,
    gt_levels: Sequence[str | None] | None = None,
    gt_dimensions: np.ndarray | None = None,
    standard: ModelStandard | None = None,
) -> dict[str, Any]:
    """Overall metrics for each head and the MetaVoter; per-dimension MAE (by the standard's keys) on
    the all-dimension samples."""
    standard = standard or ModelStandard()
    heads = {
        "lm": scores["lm_score"],
        "regression": scores["reg_score"],
        "expert": scores["expert_scores"][:, standard.overall_index],
    }
    if np.all(np.isfinite(scores["final_score"])):
        heads["metavoter"] = scores["final_score"]
    result: dict[str, Any] = {
        "n": len(gt_overall),
        "heads": {name: score_metrics(v, gt_overall, gt_levels) for name, v in heads.items()},
    }
    if gt_dimensions is not None and len(gt_dimensions):
        mask = np.asarray(scores.get("is_expert_mask", np.ones(len(gt_dimensions), dtype=bool)))
        result["per_dimension_mae"] = per_dimension_mae(
            scores["expert_scores"][mask], gt_dimensions, standard
        )
        result["n_expert"] = int(mask.sum())
    return result


def evaluate_records(
    scorer,
    records: Sequence[dict[str, Any]],
    *,
    score_key: str = "gt_score",
) -> dict[str, Any]:
    """Zero-shot evaluation on any list of {"image": path, "gt_score": float in [0, 1]}."""
    paths = [r["image"] for r in records]
    gt = [float(r[score_key]) for r in records]
    scores = scorer.score_images(paths)
    return metrics_from_head_scores(scores, gt, standard=scorer.model.config.standard)


def evaluate_release(
    scorer, release_dir: str | Path, *, split: str = "test", limit: int | None = None
) -> dict:
    """Metrics on a release split (``test_label.jsonl`` by default), overall + per-dimension MAE."""
    from modeling.data import load_release

    standard = scorer.model.config.standard
    release = load_release(release_dir, standard)
    samples = getattr(release, split)
    if limit is not None:
        samples = samples[:limit]
    if not samples:
        raise ValueError(f"{release_dir}: empty {split} split")
    scores = scorer.score_images([s.image_path for s in samples])
    expert = np.array([s.is_expert for s in samples], dtype=bool)
    scores["is_expert_mask"] = expert
    gt_dims = np.array([s.scores for s in samples if s.is_expert], dtype=np.float64).reshape(
        -1, standard.num_dimensions
    )
    result = metrics_from_head_scores(
        scores,
        [s.overall for s in samples],
        gt_levels=[s.text_level for s in samples],
        gt_dimensions=gt_dims if expert.any() else None,
        standard=standard,
    )
    result["release_version"] = release.version
    result["split"] = split
    return result


def paper_row(metrics: dict[str, float], model_name: str) -> dict[str, Any]:
    """One row of the public results CSV (4 dp), with the paper's column names and formulas."""
    return {
        "model_name": model_name,
        "Accuracy": round(metrics["accuracy"], 4),
        "mean Precision": round(metrics["precision"], 4),
        "mean Recall": round(metrics["recall"], 4),
        "mean F1": round(metrics["f1"], 4),
        "plcc": round(metrics["plcc"], 4),
        "srcc": round(metrics["srcc"], 4),
        "krcc": round(metrics["krcc"], 4),
        "mse": round(metrics["paper_mse"], 4),
        "mae": round(metrics["paper_mae"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    from modeling.scorer import Scorer

    parser = argparse.ArgumentParser(prog="python -m modeling.evaluate")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--release-dir", default=None)
    parser.add_argument("--records", default=None, help='JSON list of {"image", "gt_score"} (zero-shot)')
    parser.add_argument("--split", default="test")
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    scorer = Scorer(args.checkpoint, backbone_path=args.backbone, batch_size=args.batch_size)
    if args.release_dir:
        result = evaluate_release(scorer, args.release_dir, split=args.split)
    elif args.records:
        path = Path(args.records)
        records = json.loads(path.read_text(encoding="utf-8"))
        for r in records:
            if not Path(r["image"]).is_absolute():
                r["image"] = str(path.parent / r["image"])
        result = evaluate_records(scorer, records)
    else:
        parser.error("give --release-dir or --records")
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
