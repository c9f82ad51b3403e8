"""pyiqa's meta-info CSV (``dataroot_target`` = the release's ``images/``)."""

from __future__ import annotations

from ..release_writer import (
    PYIQA_CSV,
    ExportContext,
    _csv_text,
    _jsonl,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    ctx.tree.write_text(
        PYIQA_CSV,
        _csv_text(["image_name", "mos", "official_split"], ())
        + _jsonl("%s,%s,%s\n", [ctx.csv_names, ctx.cols.csv("score"), ctx.splits]),
    )


EXPORTER = Exporter(name="pyiqa", weight=0.3, export=export, outputs=(PYIQA_CSV,), needs=("images",))
