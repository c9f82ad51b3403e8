"""The scoring queue: next image for a certified rater, lease heartbeat, skip. Design: ``next_image.md``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.models import Image, Standard, User
from annotation.selectors import default_standard
from humanbeauty.db import prepared_cursor
from humanbeauty.errors import ApplicationError, ConflictError, NotFoundError

from .. import config
from ..models import Lease, PoolItem, Rating, Skip
from .ratings import RatingReceipt, rating_submit, standard_cached

LOCK_TRIES = 3  # candidates tried one by one with FOR UPDATE SKIP LOCKED, then all the rest at once
MAX_LOCK_STATEMENTS = 6  # bound per call (a constant query count even when many raters collide)


@dataclass(frozen=True)
class QueueItem:
    """What a rater is shown. Deliberately identical for pool and hidden-gold items."""

    image: Image
    standard: Standard
    expires_at: datetime


def _gold():
    from annotation.qualification import contract

    return contract


def rater_require_certified(*, rater: User) -> float:
    """Refuse raters who are not certified (403); returns their hidden-gold share (same single query)."""
    share = _gold().rater_gold_share(rater=rater)
    if share is None:
        raise ApplicationError(
            "Only certified raters can score images: pass the qualification first.", status=403
        )
    return share


def _active_leases(now: datetime) -> Coalesce:
    counted = (
        Lease.objects.filter(pool_item=OuterRef("pk"), expires_at__gt=now)
        .order_by()
        .values("pool_item")
        .annotate(c=Count("*"))
        .values("c")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _open_items(now: datetime) -> QuerySet[PoolItem]:
    """Items with room for one more lease: ratings_done + unexpired leases < target."""
    return (
        PoolItem.objects.filter(active=True, ratings_done__lt=F("target"))
        .annotate(leased=_active_leases(now))
        .filter(leased__lt=F("target") - F("ratings_done"))
    )


def eligible_items(*, rater: User, now: datetime | None = None) -> QuerySet[PoolItem]:
    """Open items this rater may get, in queue order (ratings done desc, priority desc, oldest first).

    Excluded: items the rater rated, skipped, uploaded, or images shown to them as hidden gold. One SQL
    statement whatever the pool size (NOT EXISTS subqueries on unique indexes).
    """
    now = now or timezone.now()
    return (
        _open_items(now)
        .filter(
            ~Exists(Rating.objects.filter(image=OuterRef("image"), rater=rater)),
            ~Exists(Skip.objects.filter(image=OuterRef("image"), rater=rater)),
        )
        .exclude(image__uploaded_by=rater)
        .exclude(image_id__in=_gold().hidden_gold_image_shas(rater=rater))
        .order_by("-ratings_done", "-priority", "created_at", "id")
    )


def _default_standard() -> Standard:
    return default_standard()


_LEASE_COLUMNS = "rater_id, pool_item_id, image_id, is_gold, created_at, heartbeat_at, expires_at"
_LEASE_INSERT = (
    f"INSERT INTO scoring_lease ({_LEASE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (rater_id) DO NOTHING RETURNING id"
)


def _lease_create(
    *,
    rater: User,
    now: datetime,
    image: Image,
    pool_item_id: int | None = None,
    is_gold: bool = False,
    gold_item_id: int | None = None,
) -> Lease | None:
    """Insert the rater's lease; None if a concurrent call of the same rater took one first (UNIQUE rater),
    or, for a pool item, if the item has no room left. One statement (ON CONFLICT DO NOTHING, PostgreSQL and
    SQLite), no savepoint round trips. With ``gold_item_id`` the hidden-gold exposure is recorded too: on
    PostgreSQL by the same statement (a CTE, whose exposure INSERT writes nothing for a pool lease), so
    serving gold costs no extra round trip; elsewhere by a second statement.

    The room check is part of the INSERT on purpose: it runs *after* ``_lock_open`` took the item's row lock,
    in a new statement, so it sees every lease committed by a rater who held that lock before us. (Checked
    only inside the locking statement, a lease committed between that statement's snapshot and the moment
    the lock was granted would be missed, and the image could be leased once more than it has room for.)"""
    expires = now + timedelta(seconds=config.lease_ttl_s())
    values = [rater.pk, pool_item_id, image.pk, is_gold, _dt(now), _dt(now), _dt(expires)]
    one_statement = pool_item_id is not None and connection.vendor == "postgresql"
    with prepared_cursor() as cur:
        if pool_item_id is None:
            cur.execute(_LEASE_INSERT, values)
        elif one_statement:
            exposure = _gold().hidden_gold_serve_sql(source="l")
            cur.execute(
                f"WITH l AS ({_LEASE_INSERT_IF_ROOM}), e AS ({exposure}) SELECT id FROM l",
                [*values, pool_item_id, _dt(now), rater.pk, gold_item_id, _dt(now), gold_item_id],
            )
        else:
            cur.execute(_LEASE_INSERT_IF_ROOM, [*values, pool_item_id, _dt(now)])
        row = cur.fetchone()
    if row is None:
        return None
    if gold_item_id is not None and not one_statement:
        _gold().hidden_gold_serve(rater=rater, gold_item_id=gold_item_id)
    return Lease(
        pk=row[0], rater=rater, pool_item_id=pool_item_id, image=image, is_gold=is_gold, created_at=now,
        heartbeat_at=now, expires_at=expires,
    )  # fmt: skip


_RATER_LOCK = "SELECT pg_advisory_xact_lock(7001, %s)"


def _serialise_rater(rater: User) -> None:
    """One ``next`` at a time per rater (two tabs, a double click, several threads): a transaction-scoped
    advisory lock on PostgreSQL, so a second concurrent call waits for the first's lease and returns it
    instead of finding every candidate row-locked by the first and answering "nothing left". SQLite's
    IMMEDIATE transactions already serialise writers."""
    if connection.vendor == "postgresql":
        with prepared_cursor() as cur:
            cur.execute(_RATER_LOCK, [rater.pk])


def _relaxed_commit() -> None:
    """Leases are ephemeral (a lost one just expires): on PostgreSQL their transaction need not wait for
    the WAL flush. Ratings keep full durability."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit TO OFF")


def _existing(rater: User) -> QueueItem | None:
    """The rater's lease as a queue item, with its image and standard, in one statement; an expired lease is
    deleted (its slot already counts as free), recorded as a skip (reason ``expired``: never offered to this
    rater again, pool or gold alike) and ``None`` returned."""
    with prepared_cursor() as cur:
        cur.execute(_EXISTING.format(image_columns=_image_columns()), [rater.pk])
        row = cur.fetchone()
        if row is None:
            return None
        lease_id, standard_id, expires_at, image_sha = row[:4]
        expires_at = _from_db_datetime(expires_at)
        if expires_at <= timezone.now():
            cur.execute("DELETE FROM scoring_lease WHERE id = %s", [lease_id])
            cur.execute(_SKIP_INSERT, [image_sha, rater.pk, Skip.Reason.EXPIRED, "", _dt(timezone.now())])
            return None
    image = Image.from_db(connection.alias, _IMAGE_FIELDS, list(row[4:]))
    standard = standard_cached(standard_id) if standard_id is not None else _default_standard()
    return QueueItem(image=image, standard=standard, expires_at=expires_at)


_SKIP_INSERT = (
    "INSERT INTO scoring_skip (image_id, rater_id, reason, note, created_at) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (image_id, rater_id) DO NOTHING"
)


def _from_db_datetime(value: object) -> datetime:
    """A timestamp from a raw cursor: aware on PostgreSQL, a naive/ISO UTC value on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


# The hot statements as SQL (the candidate and room filters mean the same as ``eligible_items`` /
# ``_open_items``, which stay the readable reference for selectors and tests): building them through the ORM
# cost ~10 ms of CPU per call. Run through ``prepared_cursor`` so PostgreSQL plans each once per connection.
_OPEN = (
    "p.active AND p.ratings_done < p.target AND p.ratings_done + (SELECT COUNT(*) FROM scoring_lease l "
    "WHERE l.pool_item_id = p.id AND l.expires_at > %s) < p.target"
)
_CANDIDATES = (
    "SELECT p.id, p.ratings_done FROM scoring_poolitem p JOIN annotation_image i ON i.sha256 = p.image_id "
    f"WHERE {_OPEN} "
    "AND NOT EXISTS (SELECT 1 FROM scoring_rating r WHERE r.image_id = p.image_id AND r.rater_id = %s) "
    "AND NOT EXISTS (SELECT 1 FROM scoring_skip s WHERE s.image_id = p.image_id AND s.rater_id = %s) "
    "AND (i.uploaded_by_id IS NULL OR i.uploaded_by_id <> %s) "
    "AND p.image_id NOT IN ({gold}) "
    "ORDER BY p.ratings_done DESC, p.priority DESC, p.created_at ASC, p.id ASC LIMIT %s"
)
_IMAGE_FIELDS = [f.attname for f in Image._meta.concrete_fields]
_LOCK = (
    "SELECT p.id, p.standard_id, {image_columns} FROM scoring_poolitem p "
    f"JOIN annotation_image i ON i.sha256 = p.image_id WHERE p.id IN ({{ids}}) AND {_OPEN} "
    "ORDER BY p.ratings_done DESC, p.priority DESC, p.created_at ASC, p.id ASC LIMIT 1"
)
_LEASE_INSERT_IF_ROOM = (
    f"INSERT INTO scoring_lease ({_LEASE_COLUMNS}) SELECT %s, %s, %s, %s, %s, %s, %s "
    f"WHERE EXISTS (SELECT 1 FROM scoring_poolitem p WHERE p.id = %s AND {_OPEN}) "
    "ON CONFLICT (rater_id) DO NOTHING RETURNING id"
)
_EXISTING = (
    "SELECT l.id, p.standard_id, l.expires_at, l.image_id, {image_columns} FROM scoring_lease l "
    "JOIN annotation_image i ON i.sha256 = l.image_id LEFT JOIN scoring_poolitem p ON p.id = l.pool_item_id "
    "WHERE l.rater_id = %s"
)


def _image_columns() -> str:
    return ", ".join(f"i.{Image._meta.get_field(f).column}" for f in _IMAGE_FIELDS)


def _dt(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def _candidates(rater: User, now: datetime) -> list[tuple[int, int]]:
    gold_sql, gold_params = _gold().hidden_gold_image_shas(rater=rater).order_by().query.sql_with_params()
    with prepared_cursor() as cur:
        cur.execute(
            _CANDIDATES.format(gold=gold_sql),
            [_dt(now), rater.pk, rater.pk, rater.pk, *gold_params, config.candidate_pool_size()],
        )
        return cur.fetchall()


def _lock_open(pks: list[int], now: datetime) -> tuple[int, Standard, Image] | None:
    """Lock the first open item of ``pks`` in queue order (SKIP LOCKED: items other raters are leasing right
    now are passed over); None if every one is locked or full."""
    sql = _LOCK.format(image_columns=_image_columns(), ids=", ".join(["%s"] * len(pks)))
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE OF p SKIP LOCKED"
    with prepared_cursor() as cur:
        cur.execute(sql, [*pks, _dt(now)])
        row = cur.fetchone()
    if row is None:
        return None
    image = Image.from_db(connection.alias, _IMAGE_FIELDS, list(row[2:]))
    return row[0], standard_cached(row[1]), image


def next_image(*, rater: User, lease_free: bool = False) -> QueueItem | None:
    """Lease the next image for ``rater`` (None when nothing is left for them). One path for pool and
    hidden gold (``next_image.md``):

    1. The rater's own unexpired lease is returned again (reload, second tab); an expired one is deleted
       and recorded as an ``expired`` skip. ``lease_free=True`` skips that look-up when the caller has just
       deleted the rater's lease (submit-and-next); a lease another tab took meanwhile is still found,
       through the INSERT's conflict.
    2. The top candidates in queue order; one of them, at random among those with the most ratings, is
       locked with ``SELECT … FOR UPDATE SKIP LOCKED``.
    3. Only then is hidden gold drawn (one statement whatever the draw): gold is served exactly when a pool
       item would have been, so "nothing left" is never followed by gold. A gold image is leased *on the
       locked pool item* (the lease's ``pool_item``; ``is_gold`` server-side only): it takes the same slot,
       is checked against the same room at write time and expires the same way.
    4. The lease is written only if the item still has room (re-checked after the lock, see
       ``_lease_create``).
    """
    share = rater_require_certified(rater=rater)
    with transaction.atomic():
        _relaxed_commit()
        _serialise_rater(rater)
        now = timezone.now()
        if not lease_free:
            current = _existing(rater)
            if current is not None:
                return current
        top = _candidates(rater, now)
        # Most ratings first (finish in-progress images), random within equal counts among the top N.
        top.sort(key=lambda row: (-row[1], random.random()))
        # The first picks one by one, then the rest at once; a constant bound on lock statements.
        remaining = [pk for pk, _ in top]
        gold: Any = None
        drawn = False
        for attempt in range(MAX_LOCK_STATEMENTS):
            if not remaining:
                break
            pks = remaining[:1] if attempt < LOCK_TRIES else remaining
            locked = _lock_open(pks, now)
            if locked is None:  # locked by other raters right now, or filled up since the candidate query
                if len(pks) > 1:
                    break
                remaining.remove(pks[0])
                continue
            item_pk, standard, image = locked
            remaining.remove(item_pk)
            if not drawn:
                drawn = True
                gold = _gold().hidden_gold_candidate(rater=rater, share=share, standard_id=standard.pk)
            served = gold.image if gold is not None else image
            lease = _lease_create(
                rater=rater,
                now=now,
                pool_item_id=item_pk,
                image=served,
                is_gold=gold is not None,
                gold_item_id=gold.gold_item_id if gold is not None else None,
            )
            if lease is not None:
                return _item_of(lease, standard)
            current = _existing(rater)  # a concurrent call of the same rater leased first: return that one
            if current is not None:
                return current
            # else a lease committed after our lock statement's snapshot filled the item: try the others
    return None


def _item_of(lease: Lease, standard: Standard) -> QueueItem:
    return QueueItem(image=lease.image, standard=standard, expires_at=lease.expires_at)


def rating_submit_then_next(
    *,
    rater: User,
    image_sha256: str,
    scores: Any,
    comments: Any = None,
    reported: bool = False,
    report_reason: str = "",
    dwell_ms: int | None = None,
) -> tuple[RatingReceipt, QueueItem | None]:
    """Submit the rating, then lease the next image: one round trip for the scoring page instead of two.

    Two transactions on purpose: the rating commits durably on its own, so a failure while finding the next
    image can never take the rating back. After a new rating the rater's lease is known to be gone, which
    saves the current-lease look-up (``lease_free``)."""
    receipt = rating_submit(
        rater=rater,
        image_sha256=image_sha256,
        scores=scores,
        comments=comments,
        reported=reported,
        report_reason=report_reason,
        dwell_ms=dwell_ms,
    )
    return receipt, next_image(rater=rater, lease_free=receipt.created)


def lease_heartbeat(*, rater: User) -> datetime:
    """Extend the rater's unexpired lease by the TTL (the open page calls this every minute)."""
    rater_require_certified(rater=rater)
    now = timezone.now()
    expires = now + timedelta(seconds=config.lease_ttl_s())
    updated = Lease.objects.filter(rater=rater, expires_at__gt=now).update(
        heartbeat_at=now, expires_at=expires
    )
    if not updated:
        raise ConflictError("You hold no current image (the lease expired); ask for the next image.")
    return expires


def lease_skip(*, rater: User, reason: str = Skip.Reason.SKIP, note: str = "") -> None:
    """Give the current image back (skip, can't judge, or report); it is not offered to this rater again.
    The same for pool and hidden gold: a skipped gold item counts against the rater in the skip monitor."""
    rater_require_certified(rater=rater)
    if reason not in Skip.Reason.values:
        raise ApplicationError(
            f"reason: must be one of {', '.join(Skip.Reason.values)}.",
            extra={"fields": {"reason": ["Invalid choice."]}},
        )
    with transaction.atomic():
        lease = Lease.objects.filter(rater=rater).first()
        if lease is None:
            raise NotFoundError("You hold no image to skip.")
        Skip.objects.bulk_create(
            [Skip(image_id=lease.image_id, rater=rater, reason=reason, note=note[:500])],
            ignore_conflicts=True,
        )
        lease.delete()


def leases_purge_expired(*, older_than_s: int = 3600) -> int:
    """Housekeeping: delete leases expired for a while (they no longer count anyway), each recorded as an
    ``expired`` skip like the rater's own next call would."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    with transaction.atomic():
        stale = list(Lease.objects.filter(expires_at__lt=cutoff).values_list("pk", "image_id", "rater_id"))
        Skip.objects.bulk_create(
            [Skip(image_id=image, rater_id=rater, reason=Skip.Reason.EXPIRED) for _, image, rater in stale],
            ignore_conflicts=True,
        )
        deleted, _ = Lease.objects.filter(pk__in=[pk for pk, _, _ in stale]).delete()
    return deleted
