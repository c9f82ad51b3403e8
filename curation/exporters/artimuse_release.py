"""The ArtiMuse release layout: a release of the ArtiMuse standard (``artimuse-v1``) in ArtiMuse's own shape.

Files (schema in docs/curation.md, "The ArtiMuse release"):

* ``images/<sha256><ext>`` (hard links from the store) and ``train.json`` / ``test.json``: one entry per
  image of the split, ``{"image", "gt_score", "attributes": [{"key", "name", "score", "comments"}]}``
  with the attributes in the standard's order, ``gt_score`` the comprehensive evaluation's score;
* ``scores.csv``: one row per image, per attribute its main score and MOS/SD/n/CI/psi, named
  ``<key>_<stat>``;
* ``ratings/ratings.csv``: one row per raw rating, per attribute its score and the rater's comment;
* ``diff.json`` + ``CHANGELOG.md`` (the generic changelog exporter), ``README.md`` (card) and
  ``release.json`` (:func:`manifest`).

Scores are on [0, 1] like every standard on the platform (ArtiMuse's 0-100 figures are score x 100).
Pure module: no Django.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics

import numpy as np

from ..release_writer import (
    SPLIT_RULE,
    SPLITS,
    ExportContext,
    _csv_text,
)
from . import changelog
from .base import Exporter, Layout

STATS: tuple[str, ...] = ("score", "psi", "psi_se", "mos", "sd", "n", "ci95")
RATINGS_CSV = "ratings/ratings.csv"


def _keys(ctx: ExportContext) -> list[str]:
    return [k for k, _name in ctx.spec.dimensions]


# --------------------------------------------------------------------------- images


def export_images(ctx: ExportContext) -> None:
    """``images/<sha256><ext>``: a hard link from the store (a copy across devices), never re-encoded."""
    tree = ctx.tree
    os.makedirs(os.path.join(tree._root_str, "images"), exist_ok=True)
    tree._dirs.add("images")
    for x in ctx.recs:
        rel = "images/" + x.name
        dst = os.path.join(tree._root_str, rel)
        try:
            os.link(x.r.image_path, dst)
        except OSError:
            shutil.copyfile(x.r.image_path, dst)
        tree.sums[rel] = x.r.image_id


IMAGES = Exporter(name="images", weight=0.5, export=export_images, outputs=("images/*",))


# --------------------------------------------------------------------------- ratings with comments


def _comments_per_image(ctx: ExportContext) -> list[dict[str, list[str]]]:
    """Per record (release order): attribute key -> the raters' comments (sorted by rater pseudonym)."""
    out: list[dict[str, list[str]]] = [{} for _ in ctx.recs]
    rtab = ctx.rtab
    if rtab is None or rtab.comments is None:
        return out
    keys = _keys(ctx)
    for k, comments in zip(rtab.img.tolist(), rtab.comments, strict=True):
        per = out[k]
        for key in keys:
            text = (comments or {}).get(key)
            if text:
                per.setdefault(key, []).append(str(text))
    return out


def export_ratings(ctx: ExportContext) -> None:
    """``ratings/ratings.csv`` (one row per rating: score and comment per attribute) and the figures
    computed from the raw ratings (``ctx.rating_facts``, stated by the card and release.json)."""
    rtab = ctx.rtab
    if rtab is None:
        ctx.rating_facts = None
        return
    keys = _keys(ctx)
    header = ["image_id", "rater", *keys, *(f"{k}_comment" for k in keys), "dwell_ms", "campaign", "day"]
    scores = rtab.scores
    comments = rtab.comments or [{}] * len(rtab.image_id)
    rows = []
    for j in range(len(rtab.image_id)):
        vals = [None if math.isnan(v) else float(v) for v in scores[j].tolist()]
        text = comments[j] or {}
        rows.append(
            [rtab.image_id[j], rtab.rater[j], *vals, *(text.get(k, "") for k in keys), rtab.dwell_ms[j],
             rtab.campaign[j], rtab.day[j]]
        )  # fmt: skip
    ctx.tree.write_text(RATINGS_CSV, _csv_text(header, rows))
    per_image = [n for n in _bincount(rtab.img.tolist(), len(ctx.recs)) if n]
    per_rater = _bincount(rtab.rat.tolist(), len(rtab.rater_names))
    with_comment = sum(1 for c in comments for k in keys if (c or {}).get(k))
    # Per-attribute reliability from the raw ratings (dense image codes in image id order, seeded splits:
    # the same figures on every rebuild); None where too few images or raters make a figure undefined.
    from annotation.aggregation import reliability_report

    img = np.unique(rtab.img, return_inverse=True)[1].astype(np.int64)
    reliability = reliability_report(img, rtab.rat, scores, n_splits=20, rng=0, dimension_keys=tuple(keys))
    ctx.rating_facts = {
        "n_ratings": len(rtab.image_id),
        "n_raters": len(rtab.rater_names),
        "n_images_rated": len(per_image),
        "ratings_per_image": _spread(per_image),
        "ratings_per_rater": _spread(per_rater),
        "comments": with_comment,
        "reliability": reliability,
    }


def _bincount(codes: list[int], n: int) -> list[int]:
    out = [0] * n
    for c in codes:
        out[c] += 1
    return out


def _spread(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "median": 0, "max": 0}
    return {"min": min(values), "median": float(statistics.median(values)), "max": max(values)}


RATINGS = Exporter(name="ratings", weight=0.5, export=export_ratings, outputs=(RATINGS_CSV,))


# --------------------------------------------------------------------------- train.json / test.json


def _stat(values, i: int, as_int: bool = False):
    if values is None or values[i] is None:
        return None
    v = values[i]
    return int(v) if as_int else float(v)


def export_lists(ctx: ExportContext) -> None:
    """ArtiMuse's lists: ``train.json`` and ``test.json`` (every split, even an empty one)."""
    dims = list(ctx.spec.dimensions)
    comments = _comments_per_image(ctx)
    for split in SPLITS:
        entries = []
        for i in ctx.by_split[split]:
            x = ctx.recs[i]
            entries.append(
                {
                    "image": x.name,
                    "gt_score": float(x.r.mos),
                    "attributes": [
                        {
                            "key": key,
                            "name": name,
                            "score": float(x.r.dims[d]),
                            "comments": comments[i].get(key, []),
                        }
                        for d, (key, name) in enumerate(dims)
                    ],
                }
            )
        ctx.tree.write_text(f"{split}.json", json.dumps(entries, indent=1, ensure_ascii=False) + "\n")


LISTS = Exporter(
    name="artimuse_lists",
    weight=0.2,
    export=export_lists,
    outputs=("train.json", "test.json"),
    needs=("ratings",),
)


# --------------------------------------------------------------------------- scores.csv


def scores_header(keys: list[str]) -> list[str]:
    base = ["image_id", "image_name", "source", "part", "official_split", "score", "score_kind", "n_ratings"]
    return [*base, "score_std", *(f"{k}_{st}" for k in keys for st in STATS)]


def export_scores(ctx: ExportContext) -> None:
    """``scores.csv``: per image the overall score, then per attribute ``<key>_score`` (the main score, psi
    clipped to [0, 1], or the MOS without psi), ``_psi``, ``_psi_se``, ``_mos``, ``_sd``, ``_n``, ``_ci95``."""
    keys = _keys(ctx)
    rows = []
    for x in ctx.recs:
        r = x.r
        row = [r.image_id, x.name, r.source, r.part, x.split, float(r.mos),
               "sureal_psi" if r.dim_psi is not None else "mos", int(r.n_ratings),
               None if r.mos_std is None else float(r.mos_std)]  # fmt: skip
        for d in range(len(keys)):
            row += [
                float(r.dims[d]),
                _stat(r.dim_psi, d),
                _stat(r.psi_se, d),
                _stat(r.dim_mos, d),
                _stat(r.dim_sd, d),
                _stat(r.dim_n, d, as_int=True),
                _stat(r.dim_ci, d),
            ]
        rows.append(row)
    ctx.tree.write_text("scores.csv", _csv_text(scores_header(keys), rows))


SCORES = Exporter(name="scores_csv", weight=0.2, export=export_scores, outputs=("scores.csv",))


# --------------------------------------------------------------------------- facts, card, manifest


def facts(ctx: ExportContext) -> dict:
    """Every figure the card and release.json state, computed from the release's own records and ratings."""
    spec = ctx.spec
    return {
        "images": len(ctx.recs),
        "images_per_split": {s: len(ctx.by_split[s]) for s in SPLITS},
        "images_per_source_split": ctx.counts["per_source_split"],
        "min_ratings": spec.min_ratings,
        "ratings": ctx.rating_facts,
        "dimension_names": [[k, n] for k, n in spec.dimensions],
        "overall_key": spec.overall_key,
        "split_rule": SPLIT_RULE,
    }


def render_card(ctx: ExportContext) -> str:
    spec = ctx.spec
    f = facts(ctx)
    r = f["ratings"] or {}
    per_img = r.get("ratings_per_image") or {}
    lines = [
        "---",
        f"license: {spec.license}",
        f"pretty_name: {spec.name} {spec.version}",
        "task_categories:",
        "- image-classification",
        "tags:",
        "- image-aesthetics",
        "- artimuse",
        "---",
        "",
        f"# {spec.name} {spec.version}",
        "",
        f"A release of the `{spec.standard_key}` standard in ArtiMuse's layout: every image scored on "
        f"{len(spec.dimensions)} attributes on [0, 1] (ArtiMuse's 0-100 figures are score x 100), each with "
        "the raters' written comments. Content date: " + spec.created_at + ".",
        "",
        "## Figures (computed from this release's files)",
        "",
        f"- images: {f['images']} (train {f['images_per_split']['train']}, test {f['images_per_split']['test']})",
        f"- raters: {r.get('n_raters', 0)}",
        f"- ratings: {r.get('n_ratings', 0)}, with {r.get('comments', 0)} attribute comments",
        f"- ratings per image: min {per_img.get('min', 0)}, median {per_img.get('median', 0)}, "
        f"max {per_img.get('max', 0)} (the standard's minimum: {spec.min_ratings})",
        "",
        "## Reliability per attribute (from the raw ratings)",
        "",
        "Split-half SRCC over 20 seeded random halves of each image's raters, stepped up by Spearman-Brown, "
        "and ICC(1,k) (one-way random effects, mean of k raters); `-` where too few images or raters make a "
        "figure undefined.",
        "",
        "| attribute | split-half SRCC | Spearman-Brown | ICC(1,k) |",
        "|---|---|---|---|",
        *(
            f"| `{k}` | {_fig(rel.get('split_half_srcc'))} | {_fig(rel.get('spearman_brown'))} "
            f"| {_fig(rel.get('icc_1k'))} |"
            for k, rel in ((k, (r.get("reliability") or {}).get(k) or {}) for k, _ in spec.dimensions)
        ),
        "",
        "## Attributes",
        "",
        "| # | key | attribute |",
        "|---|---|---|",
        *(f"| {i + 1} | `{k}` | {n} |" for i, (k, n) in enumerate(spec.dimensions)),
        "",
        f"`gt_score` is the `{spec.overall_key}` attribute's score.",
        "",
        "## Files",
        "",
        "- `images/`: the images, named by the SHA-256 of their bytes",
        "- `train.json`, `test.json`: ArtiMuse's lists (image, gt_score, attributes with score and comments)",
        "- `scores.csv`: per image and attribute the main score, SUREAL psi and its SE, MOS, SD, n, 95 % CI",
        f"- `{RATINGS_CSV}`: the raw ratings (pseudonymous raters), a score and a comment per attribute",
        "- `diff.json`, `CHANGELOG.md`, `release.json`, `SHA256SUMS`",
        "",
        "## Split",
        "",
        f"Salt `{spec.split_salt}`, test fraction {spec.test_fraction}: {SPLIT_RULE}.",
        "",
    ]
    return "\n".join(lines)


def _fig(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def export_card(ctx: ExportContext) -> None:
    ctx.tree.write_text("README.md", render_card(ctx))


CARD = Exporter(name="card", weight=0.1, export=export_card, outputs=("README.md",), needs=("ratings",))


def manifest(ctx: ExportContext, release_sha256: str) -> dict:
    spec = ctx.spec
    return {
        "name": spec.name,
        "version": spec.version,
        "created_at": spec.created_at,
        "standard_key": spec.standard_key,
        "layout": spec.layout,
        "dimension_keys": [k for k, _n in spec.dimensions],
        "overall_key": spec.overall_key,
        "split_salt": spec.split_salt,
        "test_fraction": spec.test_fraction,
        "split_rule": SPLIT_RULE,
        "aggregation": dict(spec.aggregation),
        "license": spec.license,
        "previous_version": spec.previous.version if spec.previous else None,
        "previous_release_sha256": spec.previous.release_sha256 if spec.previous else None,
        "counts": ctx.counts,
        "facts": facts(ctx),
        "columns": {"scores_csv": scores_header(_keys(ctx)), "ratings_csv": RATINGS_CSV},
        "formats": {
            "artimuse": "images/, train.json, test.json",
            "scores_csv": "scores.csv",
            "ratings": RATINGS_CSV if ctx.rtab is not None else None,
            "card": "README.md",
        },
        "n_files": len(ctx.tree.sums) + 2,
        "release_sha256": release_sha256,
    }


LAYOUT = Layout(exporters=(IMAGES, RATINGS, LISTS, SCORES, changelog.EXPORTER, CARD), manifest=manifest)
