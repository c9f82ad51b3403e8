"""Demo state of the qualification app (idempotent): a synthetic gold bank made from the demo photographs and
two cohorts of the iterative protocol (the default three rounds and two attempts, with a small exam).

The spring cohort has run all three rounds: volunteer13..18 certified by passing the training and exam of
each round (so the demo's 50K images reach the standard's 9 ratings from at least 12 certified raters),
volunteer11 exited (failed the round-1 exam, retrained, and round 1 closed before the retake), volunteer1..8
certified by admin override. The current cohort is in round 2: volunteer9 in its training, volunteer10 in
its exam, volunteer12 retraining after failing it; three invitations were never accepted.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from annotation.models import Image, Standard, User
from annotation.selectors import default_standard
from annotation.services.images import image_ingest
from annotation.simulation import synthetic_gold_bank

from .models import Enrollment, GoldItem, Invitation, Protocol
from .services import exams, states
from .services.gold import gold_item_upsert
from .services.protocols import (
    enrollment_invite_user,
    invitation_create_bulk,
    protocol_create,
    protocol_update,
    round_close,
    round_open,
)

DEMO_PROTOCOL = "Demo cohort (small exam)"  # the current cohort, in round 2
SPRING_PROTOCOL = "Demo cohort, spring (small exam)"  # the finished cohort: all three rounds run
# One image in five is hidden gold in the demo (5 % in production), so a newcomer sees gold being served,
# answered and skipped within a few images.
DEMO_GOLD_SHARE = 0.2
# The five ITU levels the rating scale shows, so the feedback uses the scale's own words.
LEVEL_WORDS = ("bad", "poor", "fair", "good", "excellent")


def _variants(data: bytes) -> list[bytes]:
    """Two gold variants of a demo photograph, made the way the pool's demo images are (same size as the
    source, a mirror with an exposure or colour change, the same JPEG encoder and quality): nothing in a
    gold file's size, format or encoding sets it apart from the pool, yet the gold bank never shares an
    image with the scoring pool."""
    import numpy as np

    from annotation.demo import _jpeg

    arr = np.asarray(PILImage.open(io.BytesIO(data)).convert("RGB")).astype(np.float32)[:, ::-1]
    shade = np.clip(arr * 0.88 + 6, 0, 255).astype(np.uint8)
    tint = np.clip(arr * np.array([0.92, 1.0, 1.1]), 0, 255).astype(np.uint8)
    return [_jpeg(shade), _jpeg(tint)]


def _rationale(standard: Standard, means: dict[str, float]) -> dict[str, str]:
    text = {}
    for dim in standard.dimensions.order_by("order"):
        v = means[dim.key]
        word = LEVEL_WORDS[min(4, int(v * 5))]
        # Quote an anchor only where the level is at that end of the scale, never "fair" beside
        # "strikingly attractive".
        anchor = dim.high_anchor if v >= 0.8 else dim.low_anchor if v < 0.2 else ""
        text[dim.key] = f"Experts judged {dim.name.lower()} {word} ({v:.2f})." + (
            f" Like the guideline's example: {anchor}" if anchor else ""
        )
    return text


def demo_gold_bank(*, standard: Standard) -> int:
    # Crops are left out: each has a size of its own, and gold must not have sizes the pool lacks.
    sources = list(
        Image.objects.filter(provenance=Image.Provenance.DEMO, source="demo-person")
        .exclude(source_ref__endswith="-crop")
        .order_by("source_ref")
    )
    keys = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    n = 2 * len(sources)
    if n < 3:
        return 0
    bank = synthetic_gold_bank(n_images=n, n_experts=5, seed=7)
    created = 0
    i = 0
    for source in sources:
        with default_storage.open(source.file.name, "rb") as fh:
            data = fh.read()
        for suffix, variant in zip(("shade", "tint"), _variants(data), strict=True):
            image, _ = image_ingest(
                data=variant,
                provenance=Image.Provenance.GOLD,
                source="demo-gold",
                source_ref=f"{source.source_ref}-{suffix}",
            )
            means = {k: round(float(bank.means[i, j]), 2) for j, k in enumerate(keys)}
            _, was_created = gold_item_upsert(
                image=image,
                standard=standard,
                mean=means,
                sd={k: round(float(bank.sds[i, j]), 2) for j, k in enumerate(keys)},
                rationale=_rationale(standard, means),
                n_experts=5,
            )
            created += was_created
            i += 1
    return created


def _protocol(name: str, cohort: str, standard: Standard, admin: User | None) -> tuple[Protocol, bool]:
    """The demo protocol ``name`` (created if missing): the default iterative protocol (3 rounds, 2 attempts,
    targeted retraining) with a small exam so the demo's bank of 48 items lasts three rounds."""
    protocol = Protocol.objects.filter(name=name).first()
    if protocol is not None:
        return protocol, False
    return protocol_create(
        standard=standard, created_by=admin, name=name, cohort=cohort, n_training=3, n_scored=6, n_warmup=1,
        retake_delay=dt.timedelta(hours=1), recertification_interval=dt.timedelta(days=180),
        hidden_gold_share=DEMO_GOLD_SHARE,
    ), True  # fmt: skip


def _enroll(protocol: Protocol, numbers: list[int], admin: User | None) -> dict[int, Enrollment]:
    """Enroll the demo volunteers ``numbers`` not enrolled yet (the core demo creates volunteer1..18)."""
    out = {}
    for i in numbers:
        user = User.objects.filter(username=f"volunteer{i}").first()
        if user is not None and not Enrollment.objects.filter(user=user).exists():
            out[i] = enrollment_invite_user(user=user, protocol=protocol, actor=admin)
    return out


@transaction.atomic
def demo_load() -> dict[str, Any]:
    """Two cohorts of the iterative protocol: the spring cohort has run all three rounds (volunteer13..18
    certified by passing them, volunteer11 exited when round 1 closed after a failed exam; volunteer1..8
    certified by the admin), the current cohort is in round 2 (volunteer9 training, volunteer10 in the
    exam, volunteer12 retraining after a failed exam; three invitations never accepted)."""
    standard = default_standard()
    gold_created = demo_gold_bank(standard=standard)
    admin = User.objects.filter(username="admin").first()
    exams._random.seed(0)
    spring, new_spring = _protocol(SPRING_PROTOCOL, "demo spring", standard, admin)
    if new_spring:
        _spring_cohort(spring, admin)
    current, new_current = _protocol(DEMO_PROTOCOL, "demo autumn", standard, admin)
    if new_current:
        _current_cohort(current, admin)
    states_now = dict(
        Enrollment.objects.filter(user__username__startswith="volunteer").values_list(
            "user__username", "state"
        )
    )
    return {
        "gold_created": gold_created,
        "gold_items": GoldItem.objects.filter(standard=standard).count(),
        "protocol": current.pk,
        "protocols": [spring.pk, current.pk],
        "invitations": Invitation.objects.filter(protocol=current).count(),
        "states": states_now,
    }


def _train(enrollment: Enrollment) -> None:
    """The round's training (or a retraining), each image answered close to the experts, with feedback."""
    while (item := exams.training_next(enrollment=enrollment)) is not None:
        exams.training_answer(
            enrollment=enrollment, answer_id=item.pk, scores=_near(item.gold_item.expert_mean)
        )


def _exam(enrollment: Enrollment, *, good: bool) -> None:
    """An exam answered close to the gold (passes) or with every slider left in the middle (fails)."""
    attempt = exams.exam_start(enrollment=enrollment)
    answers = {
        item.position: _near(item.gold_item.expert_mean)
        if good
        else dict.fromkeys(item.gold_item.expert_mean, 0.5)
        for item in attempt.items.select_related("gold_item").order_by("position")
    }
    exams.attempt_submit(enrollment=enrollment, attempt=attempt, answers=answers)


def _spring_cohort(protocol: Protocol, admin: User | None) -> None:
    """volunteer1..8 certified by the admin (pilots), volunteer13..18 through rounds 1-3 (training with
    feedback, then an exam each round), volunteer11 fails the round-1 exam and exits when round 1 closes."""
    for enrollment in _enroll(protocol, list(range(1, 9)), admin).values():
        states.volunteer_certify_by_admin(user=enrollment.user, admin=admin, reason="demo: certified rater")
    cohort = _enroll(protocol, [11, *range(13, 19)], admin)
    for _ in range(protocol.n_iterations):
        rnd = round_open(protocol=protocol, actor=admin)
        for i, enrollment in cohort.items():
            enrollment.refresh_from_db()
            if enrollment.state == Enrollment.State.INVITED:
                exams.training_start(enrollment=enrollment)
            if enrollment.state != Enrollment.State.TRAINING:
                continue
            _train(enrollment)
            _exam(enrollment, good=i != 11)
            if i == 11:
                _train(enrollment)  # the targeted retraining; the round closes before the retake
        round_close(round=rnd, actor=admin)
    protocol_update(protocol=protocol, is_active=False)  # finished: no new volunteers


def _current_cohort(protocol: Protocol, admin: User | None) -> None:
    """Round 1 passed by volunteer9, 10 and 12 and closed; in round 2 volunteer9 has answered one training
    image, volunteer10 is in the exam (two answers saved), volunteer12 failed it and is retraining on the
    flagged dimensions (the retake opens an hour later)."""
    rnd = round_open(protocol=protocol, actor=admin)
    invitation_create_bulk(
        protocol=protocol,
        people=[{"email": f"invitee{i}@example.org", "name": f"Invitee {i}"} for i in range(1, 4)],
        created_by=admin,
    )
    cohort = _enroll(protocol, [9, 10, 12], admin)
    for enrollment in cohort.values():
        exams.training_start(enrollment=enrollment)
        _train(enrollment)
        _exam(enrollment, good=True)
    round_close(round=rnd, actor=admin)
    round_open(protocol=protocol, actor=admin)
    for i, enrollment in cohort.items():
        if i == 9:  # round 2's training, one image done
            item = exams.training_next(enrollment=enrollment)
            if item is not None:
                exams.training_answer(
                    enrollment=enrollment, answer_id=item.pk, scores=_near(item.gold_item.expert_mean)
                )
            continue
        _train(enrollment)
        if i == 12:
            _exam(enrollment, good=False)  # → retraining on the dimensions the exam flagged
            continue
        attempt = exams.exam_start(enrollment=enrollment)  # volunteer10: in the exam, two answers saved
        for item in attempt.items.select_related("gold_item").order_by("position")[:2]:
            exams.attempt_answer(
                enrollment=enrollment,
                attempt=attempt,
                position=item.position,
                scores=_near(item.gold_item.expert_mean),
            )


def _near(means: dict[str, float]) -> dict[str, float]:
    return {
        k: round(min(1.0, max(0.0, float(v) + (0.04 if n % 2 else -0.03))), 2)
        for n, (k, v) in enumerate(means.items())
    }
