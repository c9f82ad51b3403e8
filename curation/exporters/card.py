"""The dataset card (``README.md``, Hugging Face front matter + the facts)."""

from __future__ import annotations

from .. import card as card_mod
from ..release_writer import (
    ExportContext,
    _hf_features,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    """The dataset card (README.md): every figure comes from the records and ratings written before."""
    spec, tree = ctx.spec, ctx.tree
    counts = ctx.counts
    facts = ctx.facts
    _feats, card_features = _hf_features()
    tree.write_text(
        "README.md",
        card_mod.render_card(
            version=spec.version,
            license_id=spec.license,
            card=spec.card,
            created_at=spec.created_at,
            features=card_features,
            split_counts={s: len(ctx.by_split[s]) for s in ctx.patterns},
            split_bytes=ctx.split_bytes,
            data_files=ctx.patterns,
            counts=counts,
            aggregation=spec.aggregation,
            split_salt=spec.split_salt,
            test_fraction=spec.test_fraction,
            detector=spec.detector,
            stats_summary={"max_bin_fraction": ctx.stats["overall"]["max_bin_fraction"]},
            facts=facts,
        ),
    )


EXPORTER = Exporter(
    name="card", weight=0.1, export=export, outputs=("README.md",), needs=("ratings", "parquet", "stats")
)
