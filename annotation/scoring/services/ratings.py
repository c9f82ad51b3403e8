"""Submitting a rating, the per-image aggregates and the adaptive top-up (docs/scoring.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotation import aggregation
from annotation.models import Dimension, Standard, User
from annotation.selectors import default_standard_key
from annotation.services.standards import standard_validate_scores
from humanbeauty.db import prepared_cursor
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import ImageAggregate, PoolItem, Rating


@dataclass(frozen=True)
class RatingReceipt:
    """What the rater gets back after submitting; identical in shape for pool and hidden-gold items."""

    image_id: str
    scores: dict[str, float | None]
    reported: bool
    created_at: datetime
    created: bool
    extra: dict[str, Any] = field(default_factory=dict)


_DIMS_CACHE: dict[int, list[Dimension]] = {}
_STANDARDS_CACHE: dict[int, Standard] = {}


def standard_cached(standard_id: int) -> Standard:
    """A standard, cached per process (standards are immutable once created: there is no update service)."""
    standard = _STANDARDS_CACHE.get(standard_id)
    if standard is None:
        standard = _STANDARDS_CACHE[standard_id] = Standard.objects.get(pk=standard_id)
    return standard


def _dimensions(standard_id: int) -> list[Dimension]:
    """A standard's dimensions, cached per process: a standard's dimensions never change once it is used
    (ratings store scores by position)."""
    dims = _DIMS_CACHE.get(standard_id)
    if dims is None:
        dims = list(Dimension.objects.filter(standard_id=standard_id).order_by("order"))
        if dims:
            _DIMS_CACHE[standard_id] = dims
    return dims


def _receipt(rating: Rating, dims: list[Dimension], *, created: bool) -> RatingReceipt:
    return RatingReceipt(
        image_id=rating.image_id,
        scores={d.key: v for d, v in zip(dims, rating.scores, strict=False)},
        reported=rating.reported,
        created_at=rating.created_at,
        created=created,
    )


def _validate(
    dims: list[Dimension], standard: Standard, scores: Any, comments: Any
) -> tuple[dict[str, float | None], dict[str, str]]:
    cleaned, clean_comments = standard_validate_scores(
        dimensions=dims,
        score_min=standard.score_min,
        score_max=standard.score_max,
        scores=scores,
        comments=comments,
        allow_missing=frozenset(d.key for d in dims),  # None = "can't judge" this dimension
    )
    if all(v is None for v in cleaned.values()):
        raise ApplicationError(
            'scores: every dimension is "can\'t judge"; skip the image as "can\'t judge" instead.',
            extra={"fields": {"scores": ["At least one dimension needs a score."]}},
        )
    return cleaned, clean_comments


def _round(values: dict[str, float | None]) -> list[float | None]:
    return [None if v is None else round(float(v), 4) for v in values.values()]


def _gold():
    from annotation.qualification import contract

    return contract


def _stored_receipt(*, rater: User, image_sha256: str) -> RatingReceipt | None:
    """The rater's stored answer for this image, pool rating or hidden-gold answer, as the same receipt.
    Both look-ups always run (the same statements whichever kind the image is)."""
    rating = Rating.objects.filter(image_id=image_sha256, rater=rater).first()
    gold = _gold().hidden_gold_answer_get(rater=rater, image_sha256=image_sha256)
    if rating is not None:
        return _receipt(rating, _dimensions(rating.standard_id), created=False)
    if gold is not None:
        dims = _dimensions(_default_standard_id())
        return RatingReceipt(
            image_id=image_sha256,
            scores={d.key: gold.scores.get(d.key) for d in dims},
            reported=gold.reported,
            created_at=gold.answered_at,
            created=False,
        )
    return None


_DEFAULT_STANDARD: list[int] = []


def _default_standard_id() -> int:
    """The default standard's id, cached per process (so the gold branch costs no extra statement)."""
    if not _DEFAULT_STANDARD:
        _DEFAULT_STANDARD.append(Standard.objects.only("id").get(key=default_standard_key()).pk)
    return _DEFAULT_STANDARD[0]


def rating_submit(
    *,
    rater: User,
    image_sha256: str,
    scores: Any,
    comments: Any = None,
    reported: bool = False,
    report_reason: str = "",
    dwell_ms: int | None = None,
) -> RatingReceipt:
    """Record ``rater``'s scores for the image they hold a lease on. One path for pool items and hidden
    gold (``next_image.md``): the same checks in the same order, the same statements, the same receipt.

    1. Certified? Else 403, whatever the image.
    2. The lease on this image (one statement). Without one: the stored answer (200, ``created=False``) if
       there is one, else 409, whatever the image (in the pool or not, gold or not).
    3. Validation (400), then one transaction: the item's capacity row is taken (pool: the conditional
       increment; gold: the same row, locked, not incremented), the answer written (pool: ``Rating``; gold:
       the exposure, through the contract), the lease deleted. A concurrent duplicate finds the stored
       answer and returns it (200). Scores are rounded to 4 decimals and echoed as stored.

    Capacity is checked at write time by a conditional UPDATE in the same transaction as the INSERT (0 rows
    → 409), backed by the CHECK ``ratings_done <= target``. When the image reaches its target its
    aggregates are computed and, if a dimension's CI is too wide, the target grows by the campaign's step.
    """
    from .queue import rater_require_certified

    rater_require_certified(rater=rater)
    held = _lease_held(rater=rater, image_sha256=image_sha256)
    if held is None:
        stored = _stored_receipt(rater=rater, image_sha256=image_sha256)
        if stored is not None:
            return stored
        raise ConflictError("You hold no lease on this image; ask for the next image.")
    lease_id, item, is_gold = held
    dims = _dimensions(item.standard_id)
    cleaned, clean_comments = _validate(dims, standard_cached(item.standard_id), scores, comments)
    rounded = _round(cleaned)
    values = {
        "scores": rounded,
        "comments": clean_comments,
        "reported": bool(reported),
        "report_reason": (report_reason or "")[:500],
        "dwell_ms": dwell_ms,
    }
    try:
        with transaction.atomic():
            # The write-time capacity check: one conditional statement on the item's row (0 rows = full).
            with prepared_cursor() as cur:
                cur.execute(_room_lock() if is_gold else _INCREMENT, [item.pk])
                row = cur.fetchone()
                if row is None:
                    raise _ItemFull
                done, target = row
                if is_gold:
                    receipt = _gold_answer(rater=rater, image_sha256=image_sha256, dims=dims, values=values)
                else:
                    rating = _rating_insert(cur, item=item, rater=rater, values=values)
                    receipt = _receipt(rating, dims, created=True)
                cur.execute(_LEASE_DELETE, [lease_id])
            if not is_gold and done >= target:
                # Aggregates and the adaptive top-up run after the commit, as a task: pool-only work that
                # would otherwise make one pool submit in k slower than any gold submit (a timing tell).
                item_id = item.pk
                transaction.on_commit(lambda: _complete_later(item_id))
    except _ItemFull:
        stored = _stored_receipt(rater=rater, image_sha256=image_sha256)
        if stored is not None:  # a double submit whose first copy took the last slot
            return stored
        with prepared_cursor() as cur:
            cur.execute(_LEASE_DELETE, [lease_id])
        raise ConflictError(
            "This image already has all the ratings it needs; ask for the next image."
        ) from None
    except (IntegrityError, _AlreadyAnswered):  # the same rater's concurrent request wrote first
        stored = _stored_receipt(rater=rater, image_sha256=image_sha256)
        if stored is None:
            raise
        return stored
    return receipt


def _gold_answer(
    *, rater: User, image_sha256: str, dims: list[Dimension], values: dict[str, Any]
) -> RatingReceipt:
    now = timezone.now()
    scores = {d.key: v for d, v in zip(dims, values["scores"], strict=True)}
    if not _gold().hidden_gold_answer(
        rater=rater,
        image_sha256=image_sha256,
        scores=scores,
        reported=values["reported"],
        report_reason=values["report_reason"],
        dwell_ms=values["dwell_ms"],
        answered_at=now,
    ):
        raise _AlreadyAnswered
    return RatingReceipt(
        image_id=image_sha256, scores=scores, reported=values["reported"], created_at=now, created=True
    )


class _AlreadyAnswered(Exception):
    pass


def _complete_later(pool_item_id: int) -> None:
    from ..tasks import pool_item_complete_task

    pool_item_complete_task.delay(pool_item_id)


def pool_item_complete_by_id(*, pool_item_id: int) -> int | None:
    """The task's service: complete the item if it is (still) at its target; idempotent (a second run, or a
    run after the target grew, does nothing). Returns the target, or None when there was nothing to do."""
    item = PoolItem.objects.select_related("campaign").filter(pk=pool_item_id).first()
    if item is None or item.ratings_done < item.target or item.completed_at is not None:
        return None
    return pool_item_complete(pool_item=item)


_LEASE_HELD = (
    "SELECT l.id, l.is_gold, p.id, p.standard_id, p.campaign_id FROM scoring_lease l "
    "LEFT JOIN scoring_poolitem p ON p.id = l.pool_item_id WHERE l.rater_id = %s AND l.image_id = %s"
)


def _room_lock() -> str:
    """Hidden gold takes its pool item's row like a rating would, without counting: the same row lock, the
    same "full" answer when the slot was lost after an expiry."""
    sql = "SELECT ratings_done, target FROM scoring_poolitem WHERE id = %s AND ratings_done < target"
    return sql + (" FOR UPDATE" if connection.features.has_select_for_update else "")


_LEASE_DELETE = "DELETE FROM scoring_lease WHERE id = %s"
_RATING_FIELDS = [
    "pool_item_id", "image_id", "rater_id", "standard_id", "scores", "comments", "reported", "report_reason",
    "dwell_ms", "created_at",
]  # fmt: skip
_RATING_INSERT = (
    f"INSERT INTO scoring_rating ({', '.join(_RATING_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_RATING_FIELDS))}) RETURNING id"
)


def _lease_held(*, rater: User, image_sha256: str) -> tuple[int, PoolItem, bool] | None:
    """The rater's lease on this image: (lease id, its pool item, is gold), or None. One statement; the pool
    item carries what submitting needs (id, image, standard, campaign). A hidden-gold lease from before
    gold leases carried their pool item has none: it counts as no lease (the rater asks for the next)."""
    with prepared_cursor() as cur:
        cur.execute(_LEASE_HELD, [rater.pk, image_sha256])
        row = cur.fetchone()
    if row is None or row[2] is None:
        return None
    lease_id, is_gold, item_id, standard_id, campaign_id = row
    item = PoolItem(id=item_id, image_id=image_sha256, standard_id=standard_id, campaign_id=campaign_id)
    item._state.adding, item._state.db = False, connection.alias
    return lease_id, item, bool(is_gold)


def _rating_insert(cur: Any, *, item: PoolItem, rater: User, values: dict[str, Any]) -> Rating:
    """INSERT the rating through the field's own DB adaptation (JSON on PostgreSQL and SQLite alike)."""
    rating = Rating(
        pool_item_id=item.pk, image_id=item.image_id, rater=rater, standard_id=item.standard_id,
        created_at=timezone.now(), **values,
    )  # fmt: skip
    params = [
        Rating._meta.get_field(name).get_db_prep_save(getattr(rating, name), connection)
        for name in _RATING_FIELDS
    ]
    cur.execute(_RATING_INSERT, params)
    rating.pk = cur.fetchone()[0]
    rating._state.adding, rating._state.db = False, connection.alias
    return rating


_INCREMENT = (
    "UPDATE scoring_poolitem SET ratings_done = ratings_done + 1 "
    "WHERE id = %s AND ratings_done < target RETURNING ratings_done, target"
)


class _ItemFull(Exception):
    pass


# ----------------------------------------------------------------------------- per-image aggregates


def _defaults(item: PoolItem) -> dict[str, Any]:
    c = item.campaign
    if c is not None:
        return {
            "base": c.ratings_target,
            "step": c.ratings_step,
            "cap": c.ratings_cap,
            "max_half_width": c.max_ci_half_width,
        }
    return {
        "base": int(getattr(settings, "HB_SCORING_RATINGS_TARGET", 9)),
        "step": int(getattr(settings, "HB_SCORING_RATINGS_STEP", 3)),
        "cap": int(getattr(settings, "HB_SCORING_RATINGS_CAP", 15)),
        "max_half_width": float(getattr(settings, "HB_SCORING_MAX_CI_HALF_WIDTH", 0.15)),
    }


def _nan_to_none(arr: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in arr]


def image_aggregate_recompute(*, pool_item: PoolItem) -> ImageAggregate:
    """Recompute MOS/SD/n/CI per dimension of one image from its raw ratings (idempotent upsert)."""
    rows = list(Rating.objects.filter(pool_item=pool_item).values_list("scores", flat=True))
    scores = np.array(rows, dtype=np.float64) if rows else np.zeros((0, 0))
    if scores.ndim != 2 or scores.shape[0] == 0:
        n_dims = Dimension.objects.filter(standard_id=pool_item.standard_id).count()
        scores = np.zeros((0, n_dims))
    stats = aggregation.image_stats(np.zeros(scores.shape[0], dtype=np.int64), scores, 1)
    max_ci = stats.max_ci_half_width[0] if scores.shape[1] else np.nan
    values = {
        "standard_id": pool_item.standard_id,
        "n_ratings": len(rows),
        "mos": _nan_to_none(stats.mos[0]),
        "sd": _nan_to_none(stats.sd[0]),
        "n": [int(v) for v in stats.n[0]],
        "ci_half_width": _nan_to_none(stats.ci_half_width[0]),
        "max_ci_half_width": float(max_ci) if np.isfinite(max_ci) else None,
    }
    agg, _ = ImageAggregate.objects.update_or_create(image_id=pool_item.image_id, defaults=values)
    return agg


def pool_item_complete(*, pool_item: PoolItem) -> int:
    """The image reached its target: compute its aggregates, then grow the target by the step if a dimension's
    CI half-width is too wide (up to the cap), else mark it complete. Idempotent; returns the target."""
    agg = image_aggregate_recompute(pool_item=pool_item)
    cfg = _defaults(pool_item)
    new_target = aggregation.rating_target(
        pool_item.ratings_done,
        agg.max_ci_half_width if agg.max_ci_half_width is not None else float("nan"),
        base=min(cfg["base"], pool_item.target),
        step=cfg["step"],
        cap=max(cfg["cap"], pool_item.target),
        max_half_width=cfg["max_half_width"],
    )
    if new_target > pool_item.target:
        PoolItem.objects.filter(pk=pool_item.pk, target=pool_item.target).update(target=new_target)
        pool_item.target = new_target
    else:
        PoolItem.objects.filter(pk=pool_item.pk, completed_at__isnull=True).update(
            completed_at=timezone.now()
        )
    return pool_item.target
