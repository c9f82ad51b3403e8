"""No volunteer-reachable route or page shows gold scores of an exam item before submission, nor ever of
hidden gold. Gold means are on a 0.001 grid while answers are on the slider's 0.01 grid, so any gold value
that shows up in a volunteer's response is a leak (and so is an item's rationale)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from annotation.qualification import contract
from annotation.qualification.models import AttemptItem, GoldItem
from annotation.qualification.services import exams, monitoring

from .conftest import finish_training, gold_scores

pytestmark = pytest.mark.django_db
P = "/api/qualification/"
NUMBER = re.compile(r"(?<![\d:.])0\.\d{3}(?!\d)")


def _secret_values(items: list[GoldItem]) -> tuple[set[float], set[str]]:
    numbers: set[float] = set()
    texts: set[str] = set()
    for g in items:
        numbers |= {
            round(float(v), 3) for v in g.expert_mean.values() if round(float(v), 2) != round(float(v), 3)
        }
        numbers |= {
            round(float(v), 3) for v in g.expert_sd.values() if round(float(v), 2) != round(float(v), 3)
        }
        texts |= set(g.rationale.values())
    return numbers, texts


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)] + list(value.keys())
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


def _assert_clean(body: bytes, numbers: set[float], texts: set[str], where: str) -> None:
    text = body.decode("utf-8", errors="replace")
    try:
        leaves = _walk(json.loads(text))
    except ValueError:
        leaves = None
    if leaves is not None:
        leaked = [x for x in leaves if isinstance(x, float) and round(x, 3) in numbers]
        assert not leaked, (where, leaked[:5])
        leaked_text = [x for x in leaves if isinstance(x, str) and x in texts]
        assert not leaked_text, (where, leaked_text[:3])
    else:
        leaked = [m for m in NUMBER.findall(text) if float(m) in numbers]
        assert not leaked, (where, leaked[:5])
        assert not [t for t in texts if t in text], where


def _volunteer_gets(api, page, attempt_id: int | None) -> list[tuple[str, bytes]]:
    out = [(P + "me/", api.get(P + "me/").content)]
    out.extend((path, page.get(path).content) for path in ("/", "/qualification/", "/qualification/exam/"))
    out.append(("/api/me/", api.get("/api/me/").content))
    out.append(("/api/standards/", api.get("/api/standards/").content))
    if attempt_id is not None:
        out.append((P + f"me/exam/{attempt_id}/", api.get(P + f"me/exam/{attempt_id}/").content))
        out.append((P + "me/exam/start/", api.post(P + "me/exam/start/").content))
        out.append(
            (f"/qualification/result/{attempt_id}/", page.get(f"/qualification/result/{attempt_id}/").content)
        )
    return out


def test_exam_gold_never_reaches_the_volunteer_before_submission(client_for, enrolled, gold_items) -> None:
    enrollment = enrolled()
    api = client_for(None, user=enrollment.user)
    page = Client()
    page.force_login(enrollment.user)
    finish_training(enrollment)
    start = api.post(P + "me/exam/start/")
    attempt_id = start.json()["id"]
    exam_gold = [
        it.gold_item for it in AttemptItem.objects.filter(attempt_id=attempt_id).select_related("gold_item")
    ]
    numbers, texts = _secret_values(exam_gold)
    assert numbers and texts
    _assert_clean(start.content, numbers, texts, "exam start")
    for it in AttemptItem.objects.filter(attempt_id=attempt_id).select_related("gold_item"):
        r = api.post(
            P + f"me/exam/{attempt_id}/answer/",
            {"position": it.position, "scores": gold_scores(it)},
            format="json",
        )
        _assert_clean(r.content, numbers, texts, "answer")
    # An invalid answer and a wrong position answer with errors that say nothing about gold either.
    r = api.post(
        P + f"me/exam/{attempt_id}/answer/", {"position": 0, "scores": {"overall": 7}}, format="json"
    )
    _assert_clean(r.content, numbers, texts, "bad answer")
    r = api.post(
        P + f"me/exam/{attempt_id}/answer/",
        {"position": 99, "scores": gold_scores(exam_gold[0])},
        format="json",
    )
    _assert_clean(r.content, numbers, texts, "bad position")
    for where, body in _volunteer_gets(api, page, None):
        _assert_clean(body, numbers, texts, where)
    # Training items of *other* images are not exam items: training feedback never names exam items.
    for answer in enrollment.training_answers.all():
        assert answer.gold_item_id not in {g.pk for g in exam_gold}
    # After submission only aggregate metrics are shown, never the items' gold scores or rationales.
    r = api.post(P + f"me/exam/{attempt_id}/submit/")
    assert r.status_code == 200
    _assert_clean(r.content, numbers, texts, "submit")
    for where, body in _volunteer_gets(api, page, attempt_id):
        _assert_clean(body, numbers, texts, where)


def test_training_gold_shows_only_after_the_answer(client_for, enrolled, gold_items) -> None:
    enrollment = enrolled()
    api = client_for(None, user=enrollment.user)
    api.post(P + "me/training/start/")
    r = api.post(P + "me/training/next/")
    answer = enrollment.training_answers.get(pk=r.json()["item"]["id"])
    numbers, texts = _secret_values([answer.gold_item])
    _assert_clean(r.content, numbers, texts, "training next")
    _assert_clean(api.post(P + "me/training/next/").content, numbers, texts, "training next again")
    r = api.post(
        P + f"me/training/{answer.pk}/answer/", {"scores": gold_scores(answer.gold_item)}, format="json"
    )
    assert any(d["expert_mean"] == answer.gold_item.expert_mean[d["key"]] for d in r.json()["dimensions"])


def test_hidden_gold_never_reaches_the_rater(
    client_for, make_user, admin_user, gold_items, monkeypatch
) -> None:
    rater = make_user("volunteer")
    contract.volunteer_certify_by_admin(user=rater, admin=admin_user, reason="expert")
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)
    shown = []
    for _ in range(5):  # the fifth wrong answer suspends the rater
        image = contract.hidden_gold_pick(rater=rater)
        shown.append(image.gold_item)
        contract.hidden_gold_submit(
            rater=rater, image=image, scores=gold_scores(image.gold_item, constant=0.99)
        )
    numbers, texts = _secret_values(shown)
    api = client_for(None, user=rater)
    page = Client()
    page.force_login(rater)
    bodies = _volunteer_gets(api, page, None)
    path = f"/api/images/{shown[0].image_id}/"
    bodies.append((path, api.get(path).content))  # admin-only image metadata: 403 for the rater
    for where, body in bodies:
        _assert_clean(body, numbers, texts, where)
        assert b"monitor_mae" not in body and b"hidden_gold" not in body, where


def test_exam_form_excludes_training_and_hidden_gold(enrolled, gold_items, monkeypatch) -> None:
    enrollment = enrolled()
    finish_training(enrollment)
    seen = set(enrollment.training_answers.values_list("gold_item_id", flat=True))
    attempt = exams.exam_start(enrollment=enrollment)
    assert not seen & set(attempt.items.values_list("gold_item_id", flat=True))
