"""Hugging Face imagefolder: ``imagefolder/<split>/metadata.jsonl`` beside the linked images."""

from __future__ import annotations

from ..release_writer import (
    IMAGEFOLDER_COLUMNS,
    SPLITS,
    ExportContext,
    _json_key,
    _jsonl,
    _take,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    """HF imagefolder metadata (the main and MOS columns; every statistic is in scores.csv and Parquet)."""
    keys = ["file_name", *IMAGEFOLDER_COLUMNS]
    fmt = "{" + ", ".join(f"{_json_key(k)}: %s" for k in keys) + "}\n"
    files = ['"images/' + n[1:] for n in ctx.name_json]
    cols = [files, *(ctx.cols.json(c) for c in IMAGEFOLDER_COLUMNS)]
    for split in SPLITS:
        idx = ctx.by_split[split]
        if idx:
            ctx.tree.write_text(
                f"imagefolder/{split}/metadata.jsonl", _jsonl(fmt, [_take(c, idx) for c in cols])
            )


EXPORTER = Exporter(
    name="imagefolder",
    weight=1.9,
    export=export,
    outputs=("imagefolder/*/metadata.jsonl",),
    needs=("images",),
)
