"""ms-swift conversations (``swift/<split>.jsonl``) and the question/answer pairs (``qa/<split>.jsonl``)."""

from __future__ import annotations

from annotation.standards.humanbeauty import DIMENSIONS, EXPERT_QUESTIONS, LEVELS, OVERALL_QUESTIONS

from ..release_writer import (
    HAE_ROOT,
    PART_DIRS,
    PARTS,
    SPLITS,
    ExportContext,
    _json_str,
)
from .base import Exporter


def export(ctx: ExportContext) -> None:
    """ms-swift messages + QA pairs (expert answer for 50K images first, then the overall one)."""
    esc = [[_json_str(f"{d.index + 1}. {d.name} : {lv}")[1:-1] for lv in LEVELS] for d in DIMENSIONS]
    overall_by_level = {lv: _json_str(f"The aesthetics of the human image is {lv}") for lv in LEVELS}
    q_user = {e: [_json_str("<image>\n" + q) for q in (EXPERT_QUESTIONS if e else OVERALL_QUESTIONS)]
              for e in (True, False)}  # fmt: skip
    q_plain = {
        e: [_json_str(q) for q in (EXPERT_QUESTIONS if e else OVERALL_QUESTIONS)] for e in (True, False)
    }
    levels = ctx.cols.data["rating_level"]
    dim_levels = ctx.dim_levels
    swift_fmt = ('{"messages": [{"role": "user", "content": %s}, {"role": "assistant", "content": %s}], '
                 '"images": [%s]}\n')  # fmt: skip
    qa_fmt = ('{"image": %s, "image_id": "%s", "part": %s, "kind": "%s", "is_expert": %s, "question": %s, '
              '"answer": %s}\n')  # fmt: skip
    part_json = {p: _json_str(p) for p in PARTS}
    for split in SPLITS:
        swift_rows, qa_rows = [], []
        for i in ctx.by_split[split]:
            x = ctx.recs[i]
            r = x.r
            img = f'"{HAE_ROOT}/{PART_DIRS[r.part]}/images/{x.name}"'
            h = int(r.image_id[:8], 16)
            a_overall = overall_by_level[levels[i]]
            k_o = h % len(OVERALL_QUESTIONS)
            if r.part == "50K":
                k_e = h % len(EXPERT_QUESTIONS)
                a_expert = '"' + "\\n".join([esc[d][lv] for d, lv in enumerate(dim_levels[i])]) + '"'
                swift_rows.append(swift_fmt % (q_user[True][k_e], a_expert, img))
                qa_rows.append(qa_fmt % (img, r.image_id, part_json[r.part], "expert", "true", q_plain[True][k_e],
                                         a_expert))  # fmt: skip
            else:
                swift_rows.append(swift_fmt % (q_user[False][k_o], a_overall, img))
            qa_rows.append(qa_fmt % (img, r.image_id, part_json[r.part], "overall", "false", q_plain[False][k_o],
                                     a_overall))  # fmt: skip
        ctx.tree.write_text(f"swift/{split}.jsonl", "".join(swift_rows))
        ctx.tree.write_text(f"qa/{split}.jsonl", "".join(qa_rows))


EXPORTER = Exporter(
    name="swift_qa", weight=1.2, export=export, outputs=("swift/*.jsonl", "qa/*.jsonl"), needs=("images",)
)
