"""``diff.json`` against the previous release and the cumulative ``CHANGELOG.md``."""

from __future__ import annotations

from ..release_writer import (
    ExportContext,
    _diff,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    spec, recs = ctx.spec, ctx.recs
    diff = ctx.diff = _diff(spec, recs)
    ctx.tree.write_json("diff.json", diff)
    c = diff["counts"]
    entry = (
        f"## {spec.version} ({spec.created_at})\n\n"
        f"- from: {diff['from'] or 'initial release'}\n"
        f"- images: {len(recs)} ({', '.join(f'{p} {n}' for p, n in ctx.counts['per_part'].items())})\n"
        f"- added {c['added']}, removed {c['removed']}, relabelled {c['relabelled']}, "
        f"split moved {c['split_moved']}\n"
        f"- split salt `{spec.split_salt}`, test fraction {spec.test_fraction}, level cuts {spec.level_rule}\n"
    )
    if spec.changelog_notes:
        entry += f"\n{spec.changelog_notes.strip()}\n"
    old = spec.previous.changelog if spec.previous else ""
    old_body = old.split("\n", 2)[2] if old.startswith("# Changelog\n") else old
    ctx.tree.write_text(
        "CHANGELOG.md", "# Changelog\n\n" + entry + ("\n" + old_body.lstrip("\n") if old_body else "")
    )


EXPORTER = Exporter(name="changelog", weight=0.3, export=export, outputs=("diff.json", "CHANGELOG.md"))
