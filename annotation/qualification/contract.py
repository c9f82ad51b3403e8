"""What other apps (the scoring queue) may use from qualification. Stable signatures; nothing else.

Hidden gold looks exactly like a normal queue item: the scoring app asks :func:`hidden_gold_pick` before
drawing a normal item, serves the returned image like any other, reports the answer with
:func:`hidden_gold_submit`, and excludes :func:`hidden_gold_image_shas` from the normal queue. No gold
score ever leaves this app through these functions.
"""

from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import Image, User

from . import selectors
from .services import monitoring, states


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


def hidden_gold_submit(*, rater: User, image: Image, scores: dict[str, float | None]) -> None:
    monitoring.hidden_gold_submit(rater=rater, image=image, scores=scores)


def hidden_gold_image_shas(*, rater: User) -> QuerySet:
    return monitoring.hidden_gold_image_shas(rater=rater)


def hidden_gold_errors(*, rater_ids: list[int]) -> dict[int, float]:
    """Mean hidden-gold MAE per rater (reports for admins/researchers; raters with no answer are absent)."""
    return monitoring.hidden_gold_errors(rater_ids=rater_ids)


__all__ = [
    "certified_raters",
    "hidden_gold_errors",
    "hidden_gold_image_shas",
    "hidden_gold_pick",
    "hidden_gold_submit",
    "rater_gold_share",
    "rater_is_certified",
    "volunteer_certify_by_admin",
]
