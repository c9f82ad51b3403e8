"""Croissant metadata (``croissant.json``)."""

from __future__ import annotations

from .. import card as card_mod
from ..release_writer import (
    _MIME,
    _RATERS_DOC,
    _RATINGS_DOC,
    RATERS_CSV,
    RATERS_PARQUET,
    RATINGS_CSV,
    RATINGS_PARQUET,
    ExportContext,
    _raters_columns,
    _ratings_columns,
    _scalar_columns,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    """Croissant metadata (files with their hashes, record sets, facts)."""
    spec, recs, tree, facts = ctx.spec, ctx.recs, ctx.tree, ctx.facts
    exts = sorted({x.ext for x in recs})
    sc_type = {"string": "sc:Text", "float64": "sc:Float", "int32": "sc:Integer"}
    score_cols = [
        ("image_name", "sc:Text"),
        *[(name, sc_type[dt]) for name, dt in _scalar_columns()],
        ("official_split", "sc:Text"),
    ]
    fobjs = [("scores.csv", "text/csv", tree.sums["scores.csv"])]
    fobjs += [(p, "application/x-parquet", tree.sums[p]) for p in sorted(tree.sums) if p.startswith("data/")]
    extra_sets = []
    if ctx.rtab is not None:
        fobjs += [
            (RATINGS_CSV, "text/csv", tree.sums[RATINGS_CSV]),
            (RATERS_CSV, "text/csv", tree.sums[RATERS_CSV]),
        ]
        fobjs += [
            (RATINGS_PARQUET, "application/x-parquet", tree.sums[RATINGS_PARQUET]),
            (RATERS_PARQUET, "application/x-parquet", tree.sums[RATERS_PARQUET]),
        ]
        extra_sets = [
            ("ratings", RATINGS_CSV, [(n, sc_type[dt]) for n, dt in _ratings_columns()], _RATINGS_DOC),
            ("raters", RATERS_CSV, [(n, sc_type[dt]) for n, dt in _raters_columns()], _RATERS_DOC),
        ]
    croissant = card_mod.render_croissant(
        name=spec.name,
        version=spec.version,
        license_id=spec.license,
        card=spec.card,
        created_at=spec.created_at,
        file_objects=fobjs,
        image_glob="images/*" if len(exts) > 1 else f"images/*{exts[0]}",
        image_format=_MIME.get(exts[0], "image/jpeg") if len(exts) == 1 else "image/jpeg",
        score_columns=score_cols,
        split_salt=spec.split_salt,
        detector=spec.detector,
        aggregation=spec.aggregation,
        facts=facts,
        extra_record_sets=extra_sets,
    )
    tree.write_json("croissant.json", croissant)


EXPORTER = Exporter(
    name="croissant",
    weight=0.1,
    export=export,
    outputs=("croissant.json",),
    needs=("scores_csv", "ratings", "parquet"),
)
