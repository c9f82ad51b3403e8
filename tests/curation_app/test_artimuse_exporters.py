"""The ArtiMuse release layout alone on a tiny context: each exporter writes exactly its declared files, the
lists follow ArtiMuse's schema with 8 named attributes and the raters' comments, the card's figures come
from the data, two builds are byte-identical, and a second version diffs against the first.

Pure tests (no database): records, ratings and spec are built here.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import os

import numpy as np
import pytest

from annotation.standards import artimuse
from curation.exporters import LAYOUTS
from curation.release_writer import (
    RatingsTable,
    ReleaseError,
    ReleaseRecord,
    ReleaseSpec,
    export_context,
    load_previous_release,
    write_release,
)
from tests.curation.test_release_writer import _store_images

N = 10
KEYS = artimuse.ATTRIBUTE_KEYS
NAMES = {a[0]: a[1] for a in artimuse.ATTRIBUTES}
LAYOUT = LAYOUTS["artimuse"]


def _spec(version: str = "1.0.0-artimuse", **kw) -> ReleaseSpec:
    base = {
        "version": version,
        "name": "HumanBeauty-ArtiMuse",
        "created_at": "2026-01-15T00:00:00Z",
        "split_salt": "am-salt",
        "test_fraction": 0.3,
        "standard_key": artimuse.KEY,
        "min_ratings": 3,
        "layout": "artimuse",
        "dimensions": tuple((a[0], a[1]) for a in artimuse.ATTRIBUTES),
        "overall_key": artimuse.ROOT,
    }
    return ReleaseSpec(**(base | kw))


def _records(images, seed: int = 1, shift: float = 0.0) -> list[ReleaseRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for sha, path in images:
        dims = tuple(float(round(min(1.0, v + shift), 4)) for v in rng.uniform(0, 1, 8))
        out.append(
            ReleaseRecord(
                sha, path, ".jpg", "art", "std", dims[-1], dims, n_ratings=3, mos_std=0.05, dim_psi=dims,
                dim_mos=dims, dim_n=(3,) * 8, dim_sd=(0.05,) * 8, dim_ci=(0.1,) * 8, psi_se=(0.02,) * 8,
            )
        )  # fmt: skip
    return out


def _ratings(recs: list[ReleaseRecord]) -> RatingsTable:
    cols: dict[str, list] = {k: [] for k in ("image_id", "rater", "scores", "dwell_ms", "campaign", "day")}
    comments = []
    for r in recs:
        for k in (2, 0, 1):  # not in pseudonym order: the writer sorts
            cols["image_id"].append(r.image_id)
            cols["rater"].append(f"r{k:02d}")
            cols["scores"].append([round(v, 2) for v in r.dims])
            cols["dwell_ms"].append(4000 + k)
            cols["campaign"].append("7")
            cols["day"].append("2026-01-10")
            comments.append({key: f'r{k:02d} on {key}, comma, "quoted"' for key in KEYS})
    return RatingsTable(**cols, comments=comments)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    recs = _records(_store_images(tmp_path_factory.mktemp("store"), N, seed=11))
    return recs, _ratings(recs)


def _files(root) -> set[str]:
    out = set()
    for d, _dirs, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/"))
    return out


def test_each_artimuse_exporter_writes_exactly_its_outputs(inputs, tmp_path) -> None:
    recs, ratings = inputs
    ctx = export_context(_spec(), recs, tmp_path / "rel", ratings=ratings)
    done: list[str] = []
    for exporter in LAYOUT.exporters:
        assert all(dep in done for dep in exporter.needs), exporter.name
        before = _files(ctx.tree.root)
        exporter.export(ctx)
        new = _files(ctx.tree.root) - before
        for f in new:
            assert any(fnmatch.fnmatch(f, p) for p in exporter.outputs), f"{exporter.name} wrote {f}"
            assert ctx.tree.sums[f] == hashlib.sha256((ctx.tree.root / f).read_bytes()).hexdigest()
        for p in exporter.outputs:
            assert any(fnmatch.fnmatch(f, p) for f in new), f"{exporter.name} wrote nothing for {p}"
        done.append(exporter.name)


def test_artimuse_release_files_schema_and_figures(inputs, tmp_path) -> None:
    recs, ratings = inputs
    result = write_release(_spec(), recs, tmp_path / "rel", ratings=ratings)
    out = result.out_dir
    assert not (out / "HumanAesExpert").exists() and not (out / "data").exists()  # not HumanBeauty's layout
    train = json.loads((out / "train.json").read_text())
    test = json.loads((out / "test.json").read_text())
    assert len(train) + len(test) == N and len(test) == 3  # round(0.3 * 10)
    by_sha = {r.image_id: r for r in recs}
    for entry in train + test:
        assert set(entry) == {"image", "gt_score", "attributes"}
        r = by_sha[entry["image"][:-4]]
        assert (out / "images" / entry["image"]).is_file()
        assert [(a["key"], a["name"]) for a in entry["attributes"]] == [(k, NAMES[k]) for k in KEYS]
        assert [a["score"] for a in entry["attributes"]] == list(r.dims)
        assert entry["gt_score"] == r.dims[-1]
        for a in entry["attributes"]:  # the three raters' comments, in pseudonym order
            assert a["comments"] == [f'r{k:02d} on {a["key"]}, comma, "quoted"' for k in range(3)]

    with (out / "scores.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["image_id"] for r in rows] == sorted(by_sha)
    assert {f"{k}_{st}" for k in KEYS for st in ("score", "psi", "mos", "sd", "n", "ci95")} <= set(rows[0])
    with (out / "ratings/ratings.csv").open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    assert len(raw) == 3 * N and raw[0]["comprehensive_comment"] == 'r00 on comprehensive, comma, "quoted"'

    manifest = json.loads((out / "release.json").read_text())
    assert manifest["layout"] == "artimuse" and manifest["dimension_keys"] == list(KEYS)
    facts = manifest["facts"]
    assert facts["ratings"]["n_raters"] == 3 and facts["ratings"]["n_ratings"] == 30
    assert facts["ratings"]["comments"] == 30 * 8
    assert facts["images_per_split"] == {"train": 7, "test": 3}
    card = (out / "README.md").read_text()
    assert "- images: 10 (train 7, test 3)" in card and "- raters: 3" in card
    assert "min 3, median 3.0, max 3" in card
    sums = (out / "SHA256SUMS").read_text()
    assert "train.json" in sums and "ratings/ratings.csv" in sums

    again = write_release(_spec(), list(reversed(recs)), tmp_path / "rel2", ratings=ratings)
    assert again.release_sha256 == result.release_sha256  # deterministic


def test_a_second_version_diffs_against_the_first_and_keeps_splits(inputs, tmp_path) -> None:
    recs, ratings = inputs
    first = write_release(_spec(), recs, tmp_path / "v1", ratings=ratings)
    previous = load_previous_release(first.out_dir)
    assert set(previous.labels) == {r.image_id for r in recs}
    same = write_release(_spec("1.0.1-artimuse", previous=previous), recs, tmp_path / "v2", ratings=ratings)
    assert same.diff["counts"] == {"added": 0, "removed": 0, "relabelled": 0, "split_moved": 0}
    moved = _records([(r.image_id, r.image_path) for r in recs], shift=0.05)
    changed = write_release(
        _spec("1.1.0-artimuse", previous=previous), moved, tmp_path / "v3", ratings=_ratings(moved)
    )
    assert changed.diff["counts"]["relabelled"] > 0 and changed.diff["counts"]["split_moved"] == 0
    assert "1.0.0-artimuse" in (changed.out_dir / "CHANGELOG.md").read_text()


def test_the_artimuse_layout_refuses_humanbeauty_records(inputs, tmp_path) -> None:
    recs, _ratings_table = inputs
    r = recs[0]
    twelve = ReleaseRecord(r.image_id, r.image_path, ".jpg", "art", "std", 0.5, (0.5,) * 12)
    with pytest.raises(ReleaseError, match="need 8 dims"):
        write_release(_spec(), [twelve], tmp_path / "a")
    hb = ReleaseRecord(r.image_id, r.image_path, ".jpg", "humanbeauty", "50K", 0.5, (0.5,) * 8)
    with pytest.raises(ReleaseError, match="part '50K'"):
        write_release(_spec(), [hb], tmp_path / "b")
    with pytest.raises(ReleaseError, match="below the standard's minimum"):
        write_release(_spec(), recs, tmp_path / "c", ratings=_two(recs))


def _two(recs: list[ReleaseRecord]) -> RatingsTable:
    """Two ratings per image: below ArtiMuse's minimum of 3."""
    t = _ratings(recs)
    keep = [i for i, rater in enumerate(t.rater) if rater != "r02"]
    pick = lambda col: [col[i] for i in keep]  # noqa: E731
    return RatingsTable(
        image_id=pick(t.image_id), rater=pick(t.rater), scores=pick(t.scores), dwell_ms=pick(t.dwell_ms),
        campaign=pick(t.campaign), day=pick(t.day), comments=pick(t.comments),
    )  # fmt: skip
