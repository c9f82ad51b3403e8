"""Importers: each native layout in tmp_path, bad rows skipped with reasons, missing labels raise."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from curation.importers import (
    IMPORTERS,
    LabelFileNotFoundError,
    import_agiqa3k,
    import_ava,
    import_baid,
    import_csv,
    import_mebeauty,
    import_scut_fbp5500,
    import_tad66k,
    make_csv_importer,
)


def _img(path: Path, color=(120, 80, 60)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def _reasons(res) -> str:
    return " | ".join(s.reason for s in res.skipped)


def test_scut_all_labels(tmp_path):
    for n in ("AF1.jpg", "AM2.jpg", "CF3.jpg"):
        _img(tmp_path / "Images" / n)
    lbl = tmp_path / "train_test_files" / "All_labels.txt"
    lbl.parent.mkdir()
    lbl.write_text(
        "AF1.jpg 2.716667\nAM2.jpg 3.5\nCF3.jpg abc\nAF1.jpg 3.0\nMISSING.jpg 2.0\nCF3.jpg 9.0\n\n"
    )
    res = import_scut_fbp5500(tmp_path)
    assert res.read == 6
    assert [(r.native_id, r.raw_score) for r in res.rows] == [("AF1.jpg", 2.716667), ("AM2.jpg", 3.5)]
    assert res.rows[0].source == "scut_fbp5500" and res.rows[0].path.is_absolute()
    reasons = _reasons(res)
    assert (
        "unparsable" in reasons and "duplicate" in reasons and "missing" in reasons and "outside" in reasons
    )
    assert len(res.skipped) == 4


def test_scut_per_rater_csv(tmp_path):
    for n in ("AF1.jpg", "AM2.jpg"):
        _img(tmp_path / "Images" / n)
    (tmp_path / "All_Ratings.csv").write_text(
        "Rater,Filename,Rating\n1,AF1.jpg,2\n2,AF1.jpg,4\n3,AF1.jpg,3\n1,AM2.jpg,5\n2,AM2.jpg,x\n1,GONE.jpg,3\n"
    )
    res = import_scut_fbp5500(tmp_path)
    by = {r.native_id: r for r in res.rows}
    assert by["AF1.jpg"].raw_score == pytest.approx(3.0) and by["AF1.jpg"].extra["n_ratings"] == 3
    assert by["AM2.jpg"].raw_score == 5.0
    assert any("unparsable rating" in s.reason for s in res.skipped)
    assert any("missing" in s.reason for s in res.skipped)


def test_scut_missing_labels(tmp_path):
    with pytest.raises(LabelFileNotFoundError):
        import_scut_fbp5500(tmp_path)
    (tmp_path / "All_Ratings.xlsx").write_bytes(b"PK")
    with pytest.raises(LabelFileNotFoundError, match="export"):
        import_scut_fbp5500(tmp_path)


def test_mebeauty(tmp_path):
    _img(tmp_path / "original_images" / "female" / "a.jpg")
    _img(tmp_path / "original_images" / "male" / "b.png")
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "generic_scores_all.csv").write_text(
        "\ufeffimage,score\noriginal_images/female/a.jpg,7.25\nmale/b.png,3\noriginal_images/x.jpg,5\n"
        "original_images/female/a.jpg,1\nmale/b.png,11\n"
    )
    res = import_mebeauty(tmp_path)
    assert [(r.native_id, r.raw_score) for r in res.rows] == [
        ("original_images/female/a.jpg", 7.25),
        ("male/b.png", 3.0),
    ]
    assert res.read == 5 and len(res.skipped) == 3


def test_ava(tmp_path):
    _img(tmp_path / "images" / "953619.jpg")
    _img(tmp_path / "images" / "953958.jpg")
    (tmp_path / "AVA.txt").write_text(
        "1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n"
        "2 953958 10 7 15 26 26 21 10 8 1 2 15 0 1396\n"
        "3 954184 0 0 0 0 0 0 0 0 0 0 0 0 1396\n"
        "4 999999 1 1 1 1 1 1 1 1 1 1 0 0 1\n"
        "5 953619 1 1 1 1 1 1 1 1 1 1 0 0 1\n"
        "6 bad\n"
    )
    res = import_ava(tmp_path)
    assert res.read == 6 and [r.native_id for r in res.rows] == ["953619", "953958"]
    votes = [0, 1, 5, 17, 38, 36, 15, 6, 5, 1]
    mean = sum((i + 1) * v for i, v in enumerate(votes)) / sum(votes)
    assert res.rows[0].raw_score == pytest.approx(mean)
    assert res.rows[0].extra["n_ratings"] == 124 and res.rows[0].extra["challenge"] == 1396
    assert res.rows[0].extra["tags"] == [1, 22]
    assert {"no votes", "image file missing: 999999"} <= {s.reason for s in res.skipped}
    with pytest.raises(LabelFileNotFoundError):
        import_ava(tmp_path / "nope")


def test_tad66k(tmp_path):
    _img(tmp_path / "images" / "1.jpg")
    _img(tmp_path / "images" / "2.jpg")
    d = tmp_path / "labels" / "merge"
    d.mkdir(parents=True)
    (d / "train.csv").write_text("image,score\n1.jpg,6.1\n3.jpg,4\n")
    (d / "test.csv").write_text("image,score\n2.jpg,5.5\n1.jpg,2\n")
    res = import_tad66k(tmp_path)
    assert [(r.native_id, r.raw_score, r.extra["official_split"]) for r in res.rows] == [
        ("1.jpg", 6.1, "train"),
        ("2.jpg", 5.5, "test"),
    ]
    assert res.read == 4 and len(res.skipped) == 2


def test_baid(tmp_path):
    _img(tmp_path / "images" / "0.jpg")
    _img(tmp_path / "images" / "1.jpg")
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "train_set.csv").write_text("image,score\n0.jpg,4.3\n1.jpg,nan\n")
    (tmp_path / "dataset" / "test_set.csv").write_text("image,score\n1.jpg,6.0\n")
    res = import_baid(tmp_path)
    assert [(r.native_id, r.raw_score) for r in res.rows] == [("0.jpg", 4.3), ("1.jpg", 6.0)]
    assert "non-finite" in _reasons(res)


def test_agiqa3k(tmp_path):
    _img(tmp_path / "images" / "AttnGAN_normal_000.jpg")
    _img(tmp_path / "images" / "midjourney_lowstep_001.jpg")
    (tmp_path / "data.csv").write_text(
        "name,prompt,adj1,adj2,style,mos_quality,std_quality,mos_align,std_align\n"
        "AttnGAN_normal_000.jpg,a portrait of a woman,,,,1.63,0.5,2.1,0.4\n"
        'midjourney_lowstep_001.jpg,"a man, smiling",,,,3.9,0.3,4.2,0.2\n'
        "missing.jpg,x,,,,2,0.1,2,0.1\n"
    )
    res = import_agiqa3k(tmp_path)
    assert [r.raw_score for r in res.rows] == [1.63, 3.9]
    assert res.rows[1].extra["mos_align"] == "4.2" and res.rows[1].extra["prompt"] == "a man, smiling"


def test_generic_csv_and_registry(tmp_path):
    _img(tmp_path / "imgs" / "p1.jpg")
    (tmp_path / "lapis.tsv").write_text("file\taesthetic\np1.jpg\t77\np2.jpg\t10\np1.jpg\t120\n")
    res = import_csv(
        tmp_path,
        csv_name="lapis.tsv",
        source="lapis",
        image_col="file",
        score_col="aesthetic",
        score_range=(0, 100),
        image_dir="imgs",
        delimiter="\t",
    )
    assert [(r.source, r.raw_score) for r in res.rows] == [("lapis", 77.0)]
    assert len(res.skipped) == 2
    imp = make_csv_importer(
        "lapis",
        score_range=(0, 100),
        csv_name="lapis.tsv",
        image_col="file",
        score_col="aesthetic",
        image_dir="imgs",
        delimiter="\t",
    )
    assert imp.load(tmp_path).kept == 1
    with pytest.raises(LabelFileNotFoundError):
        import_csv(tmp_path, csv_name="none.csv")
    with pytest.raises(ValueError, match="no score column"):
        import_csv(tmp_path, csv_name="lapis.tsv", image_col="file", delimiter="\t")
    assert set(IMPORTERS) == {"scut_fbp5500", "mebeauty", "ava", "tad66k", "baid", "agiqa3k"}
    for key, imp in IMPORTERS.items():
        assert imp.key == key and imp.score_range[0] < imp.score_range[1]
        with pytest.raises(LabelFileNotFoundError):
            imp.load(tmp_path / "empty")
