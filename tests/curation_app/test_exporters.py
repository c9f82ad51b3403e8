"""Each release format (exporter) alone on a tiny context: it writes exactly its declared files, and they load.

Pure tests (no database): records, ratings and spec come from the writer's own test helpers.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import os

import pyarrow.parquet as pq
import pytest

from annotation.standards.humanbeauty import DIMENSION_KEYS, EXPERT_QUESTIONS, OVERALL_QUESTIONS
from curation.exporters import REGISTRY, get
from curation.release_writer import DIM_COLUMNS, export_context, write_release
from tests.curation.test_release_writer import _ratings, _records, _spec, _store_images

N50, N58 = 8, 10


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    recs = _records(_store_images(store, N50 + N58, seed=7), n50=N50, seed=2)
    return recs, _ratings(recs, per_image=9, n_raters=12, seed=5)


def _files(root) -> set[str]:
    out = set()
    for d, _dirs, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/"))
    return out


def _run(name: str, inputs, tmp_path, **spec_kw):
    """Run the exporter's prerequisites, then the exporter; return (context, the files it alone wrote)."""
    recs, ratings = inputs
    ctx = export_context(_spec(**spec_kw), recs, tmp_path / "rel", ratings=ratings, plots=True)
    exporter = get(name)
    for dep in exporter.needs:
        get(dep).export(ctx)
    before = _files(ctx.tree.root)
    exporter.export(ctx)
    new = _files(ctx.tree.root) - before
    # exactly its declared outputs: every new file matches a pattern, every pattern matched something
    for f in new:
        assert any(fnmatch.fnmatch(f, p) for p in exporter.outputs), f"{name} wrote undeclared {f}"
    for p in exporter.outputs:
        assert any(fnmatch.fnmatch(f, p) for f in new), f"{name} wrote nothing for {p}"
    # and hashed every file it wrote (SHA256SUMS)
    for f in new:
        assert ctx.tree.sums[f] == hashlib.sha256((ctx.tree.root / f).read_bytes()).hexdigest()
    return ctx, new


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_registry_names_unique_and_needs_come_first():
    names = [e.name for e in REGISTRY]
    assert len(names) == len(set(names))
    for k, e in enumerate(REGISTRY):
        assert e.weight > 0
        for dep in e.needs:
            assert dep in names[:k], f"{e.name} needs {dep}, which must come earlier in the registry"


def test_progress_comes_from_the_registry_weights(inputs, tmp_path):
    recs, ratings = inputs
    seen: list[tuple[str, float]] = []
    write_release(
        _spec(),
        recs,
        tmp_path / "out",
        ratings=ratings,
        plots=False,
        progress=lambda s, f: seen.append((s, f)),
    )
    assert [s for s, _f in seen] == ["validate", *(e.name for e in REGISTRY), "manifest"]
    fractions = [f for _s, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_images(inputs, tmp_path):
    ctx, _new = _run("images", inputs, tmp_path)
    for x in ctx.recs:
        canon = ctx.tree.root / "images" / x.name
        assert hashlib.sha256(canon.read_bytes()).hexdigest() == x.r.image_id
        layouts = [
            f"imagefolder/{x.split}/images/{x.name}",
            f"HumanAesExpert/HumanBeauty-{x.r.part}/images/{x.name}",
        ]
        for rel in layouts:
            assert os.path.samefile(ctx.tree.root / rel, canon)
        art = ctx.tree.root / "artimuse/test_datasets/HumanBeauty/images" / x.name
        assert art.exists() == (x.split == "test")


def test_imagefolder(inputs, tmp_path):
    ctx, _new = _run("imagefolder", inputs, tmp_path)
    n = 0
    for split in ("train", "test"):
        rows = _jsonl(ctx.tree.root / f"imagefolder/{split}/metadata.jsonl")
        n += len(rows)
        for row in rows:
            assert (ctx.tree.root / "imagefolder" / split / row["file_name"]).is_file()
            assert set(DIM_COLUMNS) <= set(row) and row["score_kind"] in {"sureal_psi", "public_minmax"}
    assert n == N50 + N58


def test_humanaesexpert(inputs, tmp_path):
    ctx, _new = _run("humanaesexpert", inputs, tmp_path)
    root = ctx.tree.root / "HumanAesExpert"
    expert = _jsonl(root / "HumanBeauty-50K/label.jsonl")
    assert len(expert) == N50 and all(len(r["score"]) == 12 for r in expert)
    overall = _jsonl(root / "HumanBeauty-58K/label.jsonl")
    assert len(overall) == N58 and all(isinstance(r["score"], float) and r["text_level"] for r in overall)
    both = _jsonl(root / "train_label.jsonl") + _jsonl(root / "test_label.jsonl")
    assert len(both) == N50 + N58
    assert all((root / r["image_name"]).is_file() for r in both)


def test_swift_qa(inputs, tmp_path):
    ctx, _new = _run("swift_qa", inputs, tmp_path)
    swift = _jsonl(ctx.tree.root / "swift/train.jsonl") + _jsonl(ctx.tree.root / "swift/test.jsonl")
    assert len(swift) == N50 + N58
    for row in swift:
        user, assistant = row["messages"]
        assert user["role"] == "user" and user["content"].startswith("<image>\n")
        assert user["content"][len("<image>\n") :] in EXPERT_QUESTIONS + OVERALL_QUESTIONS
        assert assistant["role"] == "assistant" and assistant["content"]
        assert (ctx.tree.root / row["images"][0]).is_file()
    qa = _jsonl(ctx.tree.root / "qa/train.jsonl") + _jsonl(ctx.tree.root / "qa/test.jsonl")
    assert (
        sum(r["kind"] == "expert" for r in qa) == N50 and sum(r["kind"] == "overall" for r in qa) == N50 + N58
    )
    assert all(r["answer"].count("\n") == 11 for r in qa if r["is_expert"])


def test_scores_csv(inputs, tmp_path):
    ctx, _new = _run("scores_csv", inputs, tmp_path)
    rows = list(csv.DictReader(io.StringIO((ctx.tree.root / "scores.csv").read_text(encoding="utf-8"))))
    assert len(rows) == N50 + N58
    by_id = {r["image_id"]: r for r in rows}
    for x in ctx.recs:
        row = by_id[x.r.image_id]
        assert float(row["score"]) == x.r.mos and row["official_split"] == x.split
        if x.r.part == "50K":
            assert [float(row[f"{k}_psi"]) for k in DIMENSION_KEYS] == list(x.r.dim_psi)
            assert int(row["overall_n"]) == 9
        else:
            assert row["overall_psi"] == "" and row["score_std"] == ""


def test_pyiqa(inputs, tmp_path):
    ctx, _new = _run("pyiqa", inputs, tmp_path)
    rows = list(
        csv.reader(io.StringIO((ctx.tree.root / "pyiqa/meta_info_HumanBeautyDataset.csv").read_text()))
    )
    assert rows[0] == ["image_name", "mos", "official_split"] and len(rows) == 1 + N50 + N58
    assert all((ctx.tree.root / "images" / name).is_file() for name, _mos, _split in rows[1:])


def test_artimuse(inputs, tmp_path):
    ctx, _new = _run("artimuse", inputs, tmp_path)
    items = json.loads((ctx.tree.root / "artimuse/test_datasets/HumanBeauty/test.json").read_text())
    assert len(items) == len(ctx.by_split["test"]) > 0
    assert all(
        (ctx.tree.root / "artimuse/test_datasets/HumanBeauty/images" / i["image"]).is_file() for i in items
    )


def test_ratings(inputs, tmp_path):
    ctx, _new = _run("ratings", inputs, tmp_path)
    table = pq.read_table(ctx.tree.root / "ratings/ratings.parquet")
    assert table.num_rows == 9 * N50 and table.column_names[:2] == ["image_id", "rater"]
    assert pq.read_table(ctx.tree.root / "ratings/raters.parquet").num_rows == 12
    assert ctx.rating_facts["n_ratings"] == 9 * N50 and ctx.rating_facts["n_raters"] == 12
    assert set(ctx.rating_facts["reliability"]) == set(DIMENSION_KEYS)


def test_parquet(inputs, tmp_path):
    ctx, new = _run("parquet", inputs, tmp_path)
    rows = []
    for f in sorted(new):
        rows += pq.read_table(ctx.tree.root / f).to_pylist()
    assert len(rows) == N50 + N58
    for row in rows:
        assert hashlib.sha256(row["image"]["bytes"]).hexdigest() == row["image_id"]
    assert set(ctx.patterns) == {"train", "test"} and sum(ctx.split_bytes.values()) > 0


def test_stats(inputs, tmp_path):
    ctx, new = _run("stats", inputs, tmp_path)
    stats = json.loads((ctx.tree.root / "stats/stats.json").read_text())
    assert stats["n_images"] == N50 + N58 and sum(stats["overall"]["hist_0.02"]) == N50 + N58
    assert stats["counts"]["per_part"] == {"50K": N50, "58K": N58}
    assert sum(f.endswith(".png") for f in new) == 5


def test_changelog(inputs, tmp_path):
    ctx, _new = _run("changelog", inputs, tmp_path)
    diff = json.loads((ctx.tree.root / "diff.json").read_text())
    assert diff["counts"]["added"] == N50 + N58 and diff["suggested_bump"] == "initial"
    assert (ctx.tree.root / "CHANGELOG.md").read_text().startswith("# Changelog\n\n## 1.0.0")


def test_card(inputs, tmp_path):
    ctx, _new = _run("card", inputs, tmp_path)
    text = (ctx.tree.root / "README.md").read_text()
    assert text.startswith("---\n") and "1.0.0" in text


def test_croissant(inputs, tmp_path):
    ctx, _new = _run("croissant", inputs, tmp_path)
    doc = json.loads((ctx.tree.root / "croissant.json").read_text())
    files = {d.get("contentUrl"): d.get("sha256") for d in doc["distribution"] if "contentUrl" in d}
    assert files["scores.csv"] == ctx.tree.sums["scores.csv"]
    assert {"ratings", "raters"} <= {rs.get("name") for rs in doc["recordSet"]}


def test_column_encoding_matches_json_and_csv_writers():
    """The columnar encoders write exactly what json.dumps / csv.writer write, value by value."""
    from curation.release_writer import _csv_str, _json_str, _num_tokens, _str_tokens

    nums = [0.1, None, 1e-05, 2.5e20, 3, -0.0, 1.0, float("nan"), float("inf")]
    assert _num_tokens(nums, "null") == ["null" if v is None else json.dumps(v) for v in nums]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(
        ["" if v is None else (repr(v) if isinstance(v, float) else v) for v in nums]
    )
    assert ",".join(_num_tokens(nums, "", as_json=False)) + "\n" == buf.getvalue()
    strs = ["plain", 'a "quoted", comma', "new\nline", "ünïcode", "100 %", None, "plain"]
    assert _str_tokens(strs, _json_str, "null") == [json.dumps(s, ensure_ascii=False) for s in strs]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if s is None else s for s in strs])
    assert ",".join(_str_tokens(strs, _csv_str, "")) + "\n" == buf.getvalue()
