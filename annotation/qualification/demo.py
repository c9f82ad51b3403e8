"""Demo state of the qualification app (idempotent): a synthetic gold bank made from the demo photographs,
a protocol with round 1 under way, and the demo volunteers in every state.

volunteer1..8 certified (by admin override, so the scoring demo has raters), volunteer9 in training,
volunteer10 in the exam, volunteer11 exited, volunteer12 invited, volunteer13..18 certified by passing the
protocol's training and exam (so the demo's 50K images reach the standard's 9 ratings from at least 12
certified raters); plus a few pending invitations.
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
from .services.protocols import enrollment_invite_user, invitation_create_bulk, protocol_create, round_open

DEMO_PROTOCOL = "Demo cohort (small exam)"
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


@transaction.atomic
def demo_load() -> dict[str, Any]:
    standard = default_standard()
    gold_created = demo_gold_bank(standard=standard)
    admin = User.objects.filter(username="admin").first()
    protocol = Protocol.objects.filter(name=DEMO_PROTOCOL).first()
    if protocol is None:
        protocol = protocol_create(
            standard=standard, created_by=admin, name=DEMO_PROTOCOL, cohort="demo", n_training=3, n_scored=6,
            n_warmup=1, retake_delay=dt.timedelta(hours=1), recertification_interval=dt.timedelta(days=180),
            hidden_gold_share=DEMO_GOLD_SHARE,
            n_iterations=1,  # one round, so the demo's exam-takers certify at once (the default runs 3)
        )  # fmt: skip
        round_open(protocol=protocol, actor=admin)
        invitation_create_bulk(
            protocol=protocol,
            people=[{"email": f"invitee{i}@example.org", "name": f"Invitee {i}"} for i in range(1, 4)],
            created_by=admin,
        )
    exams._random.seed(0)
    states_now: dict[str, str] = {}
    for i in range(1, 19):
        user = User.objects.filter(username=f"volunteer{i}").first()
        if user is None:
            continue
        enrollment = Enrollment.objects.filter(user=user).first()
        if enrollment is None:
            enrollment = enrollment_invite_user(user=user, protocol=protocol, actor=admin)
            _place(enrollment, i, admin)
        enrollment.refresh_from_db()
        states_now[user.username] = enrollment.state
    return {
        "gold_created": gold_created,
        "gold_items": GoldItem.objects.filter(standard=standard).count(),
        "protocol": protocol.pk,
        "invitations": Invitation.objects.filter(protocol=protocol).count(),
        "states": states_now,
    }


def _place(enrollment: Enrollment, i: int, admin: User | None) -> None:
    if i <= 8:
        states.volunteer_certify_by_admin(user=enrollment.user, admin=admin, reason="demo: certified rater")
    elif i == 9:  # training, one image done
        exams.training_start(enrollment=enrollment)
        item = exams.training_next(enrollment=enrollment)
        if item is not None:
            exams.training_answer(
                enrollment=enrollment, answer_id=item.pk, scores=_near(item.gold_item.expert_mean)
            )
    elif i == 10:  # in the exam, two answers saved
        exams.training_start(enrollment=enrollment)
        while (item := exams.training_next(enrollment=enrollment)) is not None:
            exams.training_answer(
                enrollment=enrollment, answer_id=item.pk, scores=_near(item.gold_item.expert_mean)
            )
        attempt = exams.exam_start(enrollment=enrollment)
        for item in attempt.items.select_related("gold_item").order_by("position")[:2]:
            exams.attempt_answer(
                enrollment=enrollment,
                attempt=attempt,
                position=item.position,
                scores=_near(item.gold_item.expert_mean),
            )
    elif i == 11:
        exams.training_start(enrollment=enrollment)
        states.volunteer_exit_by_admin(user=enrollment.user, admin=admin, reason="demo: left the project")
    elif i >= 13:  # the whole protocol: training with feedback, then an exam answered close to the gold
        exams.training_start(enrollment=enrollment)
        while (item := exams.training_next(enrollment=enrollment)) is not None:
            exams.training_answer(
                enrollment=enrollment, answer_id=item.pk, scores=_near(item.gold_item.expert_mean)
            )
        attempt = exams.exam_start(enrollment=enrollment)
        answers = {
            item.position: _near(item.gold_item.expert_mean)
            for item in attempt.items.select_related("gold_item").order_by("position")
        }
        exams.attempt_submit(enrollment=enrollment, attempt=attempt, answers=answers)
    # volunteer12 stays invited


def _near(means: dict[str, float]) -> dict[str, float]:
    return {
        k: round(min(1.0, max(0.0, float(v) + (0.04 if n % 2 else -0.03))), 2)
        for n, (k, v) in enumerate(means.items())
    }
