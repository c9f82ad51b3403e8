"""Statistics (``stats/stats.json``) and the plots (``stats/*.png``)."""

from __future__ import annotations

import io
import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from annotation.standards.humanbeauty import DIMENSIONS, LEVELS, NUM_DIMENSIONS

from ..release_writer import (
    DIM_COLUMNS,
    PARTS,
    ExportContext,
    _level_index,
    _take,
    _Tree,
)
from .base import Exporter


def _hist(values: Sequence[float], bins: int = 50) -> list[int]:
    import numpy as np

    if not len(values):
        return [0] * bins
    idx = np.clip((np.asarray(values, dtype=np.float64) * bins).astype(np.int64), 0, bins - 1)
    return np.bincount(idx, minlength=bins).tolist()


def _describe(values: Sequence[float], rule: str = "lower_inclusive") -> dict:
    n = len(values)
    if not n:
        return {"n": 0}
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / n
    return {
        "n": n,
        "mean": round(mean, 6),
        "std": round(math.sqrt(var), 6),
        "min": round(min(values), 6),
        "max": round(max(values), 6),
        "levels": dict(zip(LEVELS, _level_counts(values, rule), strict=True)),
    }


def _level_counts(values: Sequence[float], rule: str) -> list[int]:
    c = Counter(_level_index(values, rule))
    return [c.get(k, 0) for k in range(len(LEVELS))]


def _stats(ctx: ExportContext) -> dict:
    import numpy as np

    rule = ctx.spec.level_rule
    data = ctx.cols.data
    overall, sources, parts, splits = data["score"], data["source"], data["part"], ctx.splits
    h = _hist(overall)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, src in enumerate(sources):
        groups[src].append(i)
    per_source: dict[str, dict] = {}
    for src in sorted(groups):
        idx = groups[src]
        vals = _take(overall, idx)
        in_split = Counter(_take(splits, idx))
        per_source[src] = _describe(vals, rule) | {
            "part": sorted(set(_take(parts, idx))),
            "hist_0.02": _hist(vals),
            "train": in_split["train"],
            "test": in_split["test"],
        }
    expert = [x.r.dims for x in ctx.recs if x.r.dims is not None]
    arr = np.asarray(expert, dtype=np.float64).reshape(len(expert), NUM_DIMENSIONS)
    per_dim = {}
    for d in DIMENSIONS:
        vals = arr[:, d.index].tolist()
        per_dim[d.key] = _describe(vals, rule) | {
            "name": d.name,
            "column": DIM_COLUMNS[d.index],
            "hist_0.02": _hist(vals),
        }
    per_part = {p: _describe(_take(overall, ctx.by_part[p]), rule) for p in PARTS}
    return {
        "n_images": len(ctx.recs),
        "overall": _describe(overall, rule)
        | {"hist_0.02": h, "max_bin_fraction": round(max(h) / len(ctx.recs), 6)},
        "per_part": per_part,
        "per_source": per_source,
        "per_dimension_50K": per_dim,
        "bins": "50 equal bins of width 0.02 over [0, 1]; the last bin includes 1.0",
    }


def _plots(tree: _Tree, stats: dict) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    def save(fig, rel):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
        plt.close(fig)
        tree.write_bytes(rel, buf.getvalue())

    with matplotlib.rc_context({"svg.hashsalt": "humanbeauty", "font.size": 8}):
        srcs = list(stats["per_source"])
        fig, ax = plt.subplots(figsize=(7, 3.5))
        tr = [stats["per_source"][s]["train"] for s in srcs]
        te = [stats["per_source"][s]["test"] for s in srcs]
        ax.bar(srcs, tr, label="train")
        ax.bar(srcs, te, bottom=tr, label="test")
        ax.set_title("Images per source and split")
        ax.legend()
        fig.autofmt_xdate(rotation=30)
        save(fig, "stats/sources_split.png")

        fig, ax = plt.subplots(figsize=(6, 3.5))
        width = 0.4
        for k, p in enumerate(PARTS):
            lv = stats["per_part"][p].get("levels", {})
            ax.bar(
                [i + (k - 0.5) * width for i in range(len(LEVELS))],
                [lv.get(x, 0) for x in LEVELS],
                width,
                label=p,
            )
        ax.set_xticks(range(len(LEVELS)), LEVELS)
        ax.set_title("Overall rating levels per part")
        ax.legend()
        save(fig, "stats/levels.png")

        fig, ax = plt.subplots(figsize=(7, 3.5))
        h = stats["overall"]["hist_0.02"]
        n = max(1, stats["n_images"])
        ax.bar([i * 0.02 + 0.01 for i in range(len(h))], [100 * c / n for c in h], width=0.018)
        ax.axhline(4.0, color="red", linewidth=0.8, linestyle="--")
        ax.set_xlabel("overall score")
        ax.set_ylabel("% of images")
        ax.set_title("Overall score distribution (0.02 bins)")
        save(fig, "stats/scores.png")

        fig, axes = plt.subplots(3, 4, figsize=(12, 7), sharey=True)
        for ax, d in zip(axes.flat, DIMENSIONS, strict=True):
            lv = stats["per_dimension_50K"][d.key].get("levels", {})
            ax.bar(range(len(LEVELS)), [lv.get(x, 0) for x in LEVELS])
            ax.set_xticks(range(len(LEVELS)), [x[:4] for x in LEVELS])
            ax.set_title(d.name, fontsize=7)
        fig.suptitle("Rating levels per dimension (50K)")
        fig.tight_layout()
        save(fig, "stats/dimensions_levels.png")

        fig, ax = plt.subplots(figsize=(7, 3.5))
        for s in srcs:
            hs = stats["per_source"][s]["hist_0.02"]
            tot = max(1, sum(hs))
            ax.plot([i * 0.02 + 0.01 for i in range(len(hs))], [100 * c / tot for c in hs], label=s)
        ax.set_xlabel("overall score")
        ax.set_ylabel("% of source")
        ax.set_title("Score distribution per source")
        ax.legend(fontsize=6)
        save(fig, "stats/sources_scores.png")


def export(ctx: ExportContext) -> None:
    stats = _stats(ctx)
    stats["counts"] = ctx.counts
    ctx.stats = stats
    ctx.tree.write_json("stats/stats.json", stats)
    if ctx.plots:
        _plots(ctx.tree, stats)


EXPORTER = Exporter(name="stats", weight=4.2, export=export, outputs=("stats/*",))
