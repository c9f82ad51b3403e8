"""Raw ratings and raters (``ratings/*.parquet``, ``ratings/*.csv``) and the figures computed from them."""

from __future__ import annotations

from ..release_writer import (
    ExportContext,
    _write_ratings,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    """Raw ratings and raters (Parquet + CSV) and the figures computed from them."""
    ctx.rating_facts = _write_ratings(ctx.tree, ctx.rtab) if ctx.rtab is not None else None


EXPORTER = Exporter(name="ratings", weight=4.9, export=export, outputs=("ratings/*",))
