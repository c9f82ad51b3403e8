"""HumanAesExpert's training layout: per-part ``label.jsonl`` and per-split label lists."""

from __future__ import annotations

from ..release_writer import (
    HAE_ROOT,
    PART_DIRS,
    PARTS,
    SPLITS,
    ExportContext,
    _jsonl,
    _take,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    """HumanAesExpert layout (upstream key names: image_name, score, text_level)."""
    tree, cols = ctx.tree, ctx.cols
    score, level, source = cols.json("score"), cols.json("rating_level"), cols.json("source")
    names, dims = ctx.name_json, ctx.dims_json
    f58 = '{"image_name": %s, "score": %s, "text_level": %s, "source": %s}\n'
    f50 = '{"image_name": %s, "score": %s, "source": %s}\n'
    for part in PARTS:
        idx = ctx.by_part[part]
        if not idx:
            continue
        if part == "58K":
            text = _jsonl(f58, [_take(names, idx), _take(score, idx), _take(level, idx), _take(source, idx)])
        else:
            text = _jsonl(f50, [_take(names, idx), _take(dims, idx), _take(source, idx)])
        tree.write_text(f"{HAE_ROOT}/{PART_DIRS[part]}/label.jsonl", text)
    splits = ctx.splits
    for split in SPLITS:
        out = []
        for part in PARTS:
            idx = [i for i in ctx.by_part[part] if splits[i] == split]
            img = [f'"{PART_DIRS[part]}/images/' + n[1:] for n in _take(names, idx)]
            if part == "58K":
                fmt = '{"image_name": %s, "score": %s, "text_level": %s, "source": %s, "is_expert": false}\n'
                out.append(_jsonl(fmt, [img, _take(score, idx), _take(level, idx), _take(source, idx)]))
            else:
                fmt = '{"image_name": %s, "score": %s, "source": %s, "is_expert": true}\n'
                out.append(_jsonl(fmt, [img, _take(dims, idx), _take(source, idx)]))
        tree.write_text(f"{HAE_ROOT}/{split}_label.jsonl", "".join(out))


EXPORTER = Exporter(
    name="humanaesexpert",
    weight=0.6,
    export=export,
    outputs=("HumanAesExpert/*/label.jsonl", "HumanAesExpert/*_label.jsonl"),
    needs=("images",),
)
