"""What other apps (the scoring queue) may use from qualification. Stable signatures; nothing else.

Hidden gold looks exactly like a normal queue item. The scoring queue first locks the pool item it would
serve, then asks :func:`hidden_gold_candidate` (one statement whatever the draw); if gold is drawn it serves
that image under the same lease instead and records it with :func:`hidden_gold_serve`. The answer goes
through the same submit as a pool rating and is stored with :func:`hidden_gold_answer`; scoring it against
the experts, the rolling monitor and the skip rule run off the request path (:func:`hidden_gold_score_pending`,
:func:`hidden_gold_skip_review`). No gold score ever leaves this app through these functions.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from annotation.models import Image, User

from . import selectors
from .models import Attempt, AttemptItem, GoldItem, TrainingAnswer
from .services import monitoring, states
from .services.monitoring import GoldAnswer, GoldCandidate, GoldSkipRow


def rater_is_certified(*, rater: User) -> bool:
    return monitoring.rater_is_certified(rater=rater)


def certified_raters() -> QuerySet[User]:
    return selectors.certified_raters()


def volunteer_certify_by_admin(*, user: User, admin: User | None, reason: str) -> None:
    states.volunteer_certify_by_admin(user=user, admin=admin, reason=reason)


def rater_gold_share(*, rater: User) -> float | None:
    """``None`` unless the rater is certified; else the share of hidden gold to mix into their queue (one query:
    certification and gold share in one look-up for the queue's hot path)."""
    return monitoring.rater_gold_share(rater=rater)


def hidden_gold_pick(*, rater: User, share: float | None = None) -> Image | None:
    """A gold image to serve now (drawn with probability ``share``; looked up when not given), or ``None``."""
    return monitoring.hidden_gold_pick(rater=rater, share=share)


def hidden_gold_candidate(*, rater: User, share: float, standard_id: int) -> GoldCandidate | None:
    return monitoring.hidden_gold_candidate(rater=rater, share=share, standard_id=standard_id)


def hidden_gold_serve(*, rater: User, gold_item_id: int) -> None:
    monitoring.hidden_gold_serve(rater=rater, gold_item_id=gold_item_id)


def hidden_gold_serve_sql(*, source: str) -> str:
    return monitoring.hidden_gold_serve_sql(source=source)


def hidden_gold_answer(
    *,
    rater: User,
    image_sha256: str,
    scores: dict[str, float | None],
    reported: bool,
    report_reason: str,
    dwell_ms: int | None,
    answered_at: dt.datetime,
) -> bool:
    return monitoring.hidden_gold_answer(
        rater=rater,
        image_sha256=image_sha256,
        scores=scores,
        reported=reported,
        report_reason=report_reason,
        dwell_ms=dwell_ms,
        answered_at=answered_at,
    )


def hidden_gold_answer_get(*, rater: User, image_sha256: str) -> GoldAnswer | None:
    return monitoring.hidden_gold_answer_get(rater=rater, image_sha256=image_sha256)


def hidden_gold_answered_count(*, rater: User, since: dt.datetime | None = None) -> int:
    return monitoring.hidden_gold_answered_count(rater=rater, since=since)


def hidden_gold_score_pending() -> int:
    return monitoring.hidden_gold_score_pending()


def hidden_gold_skip_rows(
    *, pool_counts: dict[int, tuple[int, int]], holding: dict[int, str]
) -> list[GoldSkipRow]:
    return monitoring.hidden_gold_skip_rows(pool_counts=pool_counts, holding=holding)


def hidden_gold_skip_review(
    *, pool_counts: dict[int, tuple[int, int]], holding: dict[int, str]
) -> dict[str, int]:
    return monitoring.hidden_gold_skip_review(pool_counts=pool_counts, holding=holding)


def gold_image_shas() -> QuerySet:
    """Every gold image (any standard, active or not): only admins may fetch these."""
    return GoldItem.objects.order_by().values_list("image_id", flat=True)


def qualification_image_shas(*, user: User) -> QuerySet:
    """The gold images ``user`` is being shown in qualification right now: unanswered training items and
    the items of an open exam attempt."""
    training = TrainingAnswer.objects.filter(enrollment__user=user, answered_at__isnull=True)
    exam = AttemptItem.objects.filter(attempt__enrollment__user=user, attempt__status=Attempt.Status.OPEN)
    return GoldItem.objects.filter(
        Q(pk__in=training.values("gold_item_id")) | Q(pk__in=exam.values("gold_item_id"))
    ).values_list("image_id", flat=True)


def hidden_gold_submit(*, rater: User, image: Image, scores: dict[str, float | None]) -> None:
    monitoring.hidden_gold_submit(rater=rater, image=image, scores=scores)


def hidden_gold_image_shas(*, rater: User) -> QuerySet:
    return monitoring.hidden_gold_image_shas(rater=rater)


def hidden_gold_errors(*, rater_ids: list[int]) -> dict[int, float]:
    """Mean hidden-gold MAE per rater (reports for admins/researchers; raters with no answer are absent)."""
    return monitoring.hidden_gold_errors(rater_ids=rater_ids)


__all__ = [
    "certified_raters",
    "gold_image_shas",
    "hidden_gold_answer",
    "hidden_gold_answer_get",
    "hidden_gold_answered_count",
    "hidden_gold_candidate",
    "hidden_gold_errors",
    "hidden_gold_image_shas",
    "hidden_gold_pick",
    "hidden_gold_score_pending",
    "hidden_gold_serve",
    "hidden_gold_serve_sql",
    "hidden_gold_skip_review",
    "hidden_gold_skip_rows",
    "hidden_gold_submit",
    "qualification_image_shas",
    "rater_gold_share",
    "rater_is_certified",
    "volunteer_certify_by_admin",
]
