"""ArtiMuse's test list (``test.json``: image and ground-truth score of every test image)."""

from __future__ import annotations

import json

from ..release_writer import (
    ARTIMUSE_DIR,
    ExportContext,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    recs = ctx.recs
    ctx.tree.write_text(
        f"{ARTIMUSE_DIR}/test.json",
        json.dumps(
            [{"image": recs[i].name, "gt_score": float(recs[i].r.mos)} for i in ctx.by_split["test"]],
            indent=1,
        )
        + "\n",
    )


EXPORTER = Exporter(
    name="artimuse", weight=0.1, export=export, outputs=(f"{ARTIMUSE_DIR}/test.json",), needs=("images",)
)
