"""Standards are data: the seeded HumanBeauty standard, a second standard added with no code change."""

from __future__ import annotations

import pytest

from annotation.models import Standard
from annotation.selectors import standard_dimensions
from annotation.services.standards import standard_validate_scores
from annotation.standards.humanbeauty import DIMENSION_KEYS
from humanbeauty.errors import ApplicationError

pytestmark = pytest.mark.django_db

ARTIMUSE = {
    "key": "artimuse-8",
    "name": "ArtiMuse 8 attributes",
    "score_min": 0,
    "score_max": 100,
    "dimensions": [
        {
            "key": "composition",
            "name": "Composition & Design",
            "parent": "comprehensive",
            "asks_comment": True,
        },
        {"key": "visual_elements", "name": "Visual Elements & Structure", "parent": "comprehensive"},
        {"key": "technical", "name": "Technical Execution", "parent": "comprehensive"},
        {"key": "originality", "name": "Originality & Creativity", "parent": "comprehensive"},
        {"key": "theme", "name": "Theme & Communication", "parent": "comprehensive"},
        {"key": "emotion", "name": "Emotion & Viewer Response", "parent": "comprehensive"},
        {"key": "gestalt", "name": "Overall Gestalt", "parent": "comprehensive"},
        {"key": "comprehensive", "name": "Comprehensive Evaluation"},
    ],
}


def test_seeded_standard_has_the_pinned_order_and_hierarchy() -> None:
    standard = Standard.objects.get(key="humanbeauty-v1")
    dims = standard_dimensions(standard=standard)
    assert [d.key for d in dims] == list(DIMENSION_KEYS)
    parents = {d.key: d.parent.key if d.parent else None for d in dims}
    assert parents["facial_brightness"] == "facial_aesthetic"
    assert parents["environment"] == "overall"
    assert parents["looks"] == "general_appearance"
    assert parents["overall"] is None
    assert all(d.guideline and d.low_anchor and d.high_anchor for d in dims)


def test_second_standard_as_data_via_api_and_validation(client_for) -> None:
    admin = client_for("admin")
    r = admin.post("/api/standards/", ARTIMUSE, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert next(d["key"] for d in body["dimensions"]) == "composition"
    standard = Standard.objects.get(key="artimuse-8")
    dims = standard_dimensions(standard=standard)
    scores = {d.key: 55 for d in dims}
    cleaned, comments = standard_validate_scores(
        dimensions=dims,
        score_min=standard.score_min,
        score_max=standard.score_max,
        scores=scores,
        comments={"composition": "Strong diagonal leading lines."},
    )
    assert list(cleaned) == [d.key for d in dims] and comments == {
        "composition": "Strong diagonal leading lines."
    }
    with pytest.raises(ApplicationError, match=r"scores.technical"):
        standard_validate_scores(
            dimensions=dims, score_min=0, score_max=100, scores={**scores, "technical": 101}
        )
    with pytest.raises(ApplicationError, match=r"comments.technical"):
        standard_validate_scores(
            dimensions=dims,
            score_min=0,
            score_max=100,
            scores=scores,
            comments={"technical": "no comment allowed here"},
        )
    dup = admin.post("/api/standards/", ARTIMUSE, format="json")
    assert dup.status_code == 409


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s.pop("overall"), "scores.overall"),
        (lambda s: s.update(extra_dim=0.5), "scores.extra_dim"),
        (lambda s: s.update(looks=float("nan")), "scores.looks"),
        (lambda s: s.update(looks=1.5), "scores.looks"),
        (lambda s: s.update(looks="high"), "scores.looks"),
        (lambda s: s.update(looks=True), "scores.looks"),
    ],
    ids=["missing", "extra", "nan", "range", "string", "bool"],
)
def test_validation_names_the_field(mutate, field: str) -> None:
    standard = Standard.objects.get(key="humanbeauty-v1")
    dims = standard_dimensions(standard=standard)
    scores = dict.fromkeys(DIMENSION_KEYS, 0.5)
    mutate(scores)
    with pytest.raises(ApplicationError) as err:
        standard_validate_scores(dimensions=dims, score_min=0, score_max=1, scores=scores)
    assert field in err.value.extra["fields"]


def test_bad_standard_specs_are_refused(client_for) -> None:
    admin = client_for("admin")
    cyclic = {
        "key": "cyc",
        "name": "c",
        "dimensions": [{"key": "a", "name": "A", "parent": "b"}, {"key": "b", "name": "B", "parent": "a"}],
    }
    r = admin.post("/api/standards/", cyclic, format="json")
    assert r.status_code == 400 and "cycle" in r.json()["message"]
    assert not Standard.objects.filter(key="cyc").exists()
    unknown = {"key": "unk", "name": "u", "dimensions": [{"key": "a", "name": "A", "parent": "zzz"}]}
    r = admin.post("/api/standards/", unknown, format="json")
    assert r.status_code == 400 and "unknown parent" in r.json()["message"]
    empty = admin.post("/api/standards/", {"key": "e", "name": "e", "dimensions": []}, format="json")
    assert empty.status_code == 400
