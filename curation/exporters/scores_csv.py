"""``scores.csv``: one row per image, every scalar column (named per dimension and statistic)."""

from __future__ import annotations

from ..release_writer import (
    ExportContext,
    _csv_text,
    _jsonl,
    _scalar_columns,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    cols = ctx.cols
    scalar_names = [name for name, _dt in _scalar_columns()]
    header = ["image_name", *scalar_names[:7], "official_split", *scalar_names[7:]]
    columns = [
        ctx.csv_names,
        *(cols.csv(c) for c in scalar_names[:7]),
        ctx.splits,
        *(cols.csv(c) for c in scalar_names[7:]),
    ]
    fmt = ",".join(["%s"] * len(columns)) + "\n"
    ctx.tree.write_text("scores.csv", _csv_text(header, ()) + _jsonl(fmt, columns))


EXPORTER = Exporter(name="scores_csv", weight=3.0, export=export, outputs=("scores.csv",))
