"""Fixtures of the qualification tests: a small gold bank, a small protocol, enrolled volunteers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from tests.conftest import jpeg_bytes


def make_gold_bank(n: int = 30, seed: int = 0) -> list[Any]:
    from annotation.models import Image, Standard
    from annotation.qualification.services.gold import gold_item_upsert
    from annotation.services.images import image_ingest
    from annotation.simulation import synthetic_gold_bank
    from annotation.standards.humanbeauty import DIMENSION_KEYS, STANDARD_KEY

    standard = Standard.objects.get(key=STANDARD_KEY)
    bank = synthetic_gold_bank(n_images=n, seed=seed)
    items = []
    for i in range(n):
        image, _ = image_ingest(
            data=jpeg_bytes(16, 16, seed=5000 + seed * 1000 + i), provenance=Image.Provenance.GOLD
        )
        item, _ = gold_item_upsert(
            image=image,
            standard=standard,
            mean={k: round(float(bank.means[i, j]), 3) for j, k in enumerate(DIMENSION_KEYS)},
            sd={k: round(float(bank.sds[i, j]), 3) for j, k in enumerate(DIMENSION_KEYS)},
            rationale={k: f"expert note {k} [gold{i}]" for k in DIMENSION_KEYS},
        )
        items.append(item)
    return items


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.4 s per user; these tests never depend on the hash's strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def gold_items(db):
    return make_gold_bank()


@pytest.fixture
def protocol(db, admin_user):
    from annotation.models import Standard
    from annotation.qualification.services.protocols import protocol_create, round_open

    p = protocol_create(
        standard=Standard.objects.get(key="humanbeauty-v1"),
        created_by=admin_user,
        name="Test protocol",
        n_iterations=1,
        n_training=2,
        n_scored=6,
        n_warmup=1,
        retake_delay=dt.timedelta(hours=1),
        max_attempts=2,
    )
    round_open(protocol=p, actor=admin_user)
    return p


@pytest.fixture
def enrolled(make_user, protocol):
    """``enrolled()`` → a fresh volunteer's Enrollment in ``protocol`` (state invited)."""
    from annotation.qualification.services.protocols import enrollment_invite_user

    def make(username: str | None = None):
        return enrollment_invite_user(user=make_user("volunteer", username=username), protocol=protocol)

    return make


def gold_scores(
    item: Any, noise: float = 0.0, seed: int = 0, constant: float | None = None
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in (
        item.gold_item.expert_mean.items() if hasattr(item, "gold_item") else item.expert_mean.items()
    ):
        value = constant if constant is not None else v + noise * rng.standard_normal()
        out[k] = round(float(min(1.0, max(0.0, value))), 2)
    return out


def finish_training(enrollment: Any) -> None:
    from annotation.qualification.services.exams import training_answer, training_next, training_start

    training_start(enrollment=enrollment)
    while (item := training_next(enrollment=enrollment)) is not None:
        training_answer(enrollment=enrollment, answer_id=item.pk, scores=gold_scores(item))


def finish_retraining(enrollment: Any, noise: float = 0.0) -> int:
    """Answer every item of the current retraining; returns how many were answered."""
    from annotation.qualification.services.exams import training_answer, training_next

    n = 0
    while (item := training_next(enrollment=enrollment)) is not None:
        training_answer(
            enrollment=enrollment, answer_id=item.pk, scores=gold_scores(item, noise=noise, seed=n)
        )
        n += 1
    return n


def submit_exam(enrollment: Any, *, good: bool, now: dt.datetime | None = None) -> Any:
    from annotation.qualification.models import AttemptItem
    from annotation.qualification.services.exams import attempt_submit, exam_start

    attempt = exam_start(enrollment=enrollment, now=now)
    answers = {
        it.position: gold_scores(it, noise=0.02, seed=it.position) if good else gold_scores(it, constant=0.5)
        for it in AttemptItem.objects.filter(attempt=attempt).select_related("gold_item")
    }
    return attempt_submit(enrollment=enrollment, attempt=attempt, answers=answers, now=now)
