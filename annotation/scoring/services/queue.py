"""The scoring queue: next image for a certified rater, lease heartbeat, skip. Design: ``next_image.md``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.models import Image, Standard, User
from humanbeauty.errors import ApplicationError, ConflictError, NotFoundError
from modeling.standard import STANDARD_KEY

from .. import config
from ..models import Lease, PoolItem, Rating, Skip

LOCK_TRIES = 3  # candidates tried with FOR UPDATE SKIP LOCKED before giving up (constant query count)


@dataclass(frozen=True)
class QueueItem:
    """What a rater is shown. Deliberately identical for pool and hidden-gold items."""

    image: Image
    standard: Standard
    expires_at: datetime


def _gold():
    from annotation.qualification import contract

    return contract


def rater_require_certified(*, rater: User) -> None:
    if not _gold().rater_is_certified(rater=rater):
        raise ApplicationError(
            "Only certified raters can score images: pass the qualification first.", status=403
        )


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


def _item(lease: Lease, standard: Standard) -> QueueItem:
    return QueueItem(image=lease.image, standard=standard, expires_at=lease.expires_at)


def _default_standard() -> Standard:
    return Standard.objects.get(key=STANDARD_KEY)


_LEASE_INSERT = (
    "INSERT INTO scoring_lease (rater_id, pool_item_id, image_id, is_gold, created_at, heartbeat_at, expires_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (rater_id) DO NOTHING RETURNING id"
)


def _lease_create(
    *, rater: User, now: datetime, image: Image, pool_item_id: int | None = None, is_gold: bool = False
) -> Lease | None:
    """Insert the rater's lease; None if a concurrent call of the same rater took one first (UNIQUE rater).
    One statement (ON CONFLICT DO NOTHING, PostgreSQL and SQLite), no savepoint round trips."""
    expires = now + timedelta(seconds=config.lease_ttl_s())
    with connection.cursor() as cur:
        cur.execute(
            _LEASE_INSERT, [rater.pk, pool_item_id, image.pk, is_gold, _dt(now), _dt(now), _dt(expires)]
        )
        row = cur.fetchone()
    if row is None:
        return None
    return Lease(
        pk=row[0], rater=rater, pool_item_id=pool_item_id, image=image, is_gold=is_gold, created_at=now,
        heartbeat_at=now, expires_at=expires,
    )  # fmt: skip


def _relaxed_commit() -> None:
    """Leases are ephemeral (a lost one just expires): on PostgreSQL their transaction need not wait for
    the WAL flush. Ratings keep full durability."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit TO OFF")


def _existing(rater: User) -> Lease | None:
    return Lease.objects.select_related("image", "pool_item__standard").filter(rater=rater).first()


# The two hot statements as SQL (same meaning as ``eligible_items`` / ``_open_items``, which stay the readable
# reference and are used by selectors and tests): building them through the ORM cost ~10 ms of CPU per call.
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
    f"JOIN annotation_image i ON i.sha256 = p.image_id WHERE p.id = %s AND {_OPEN}"
)
_STANDARDS: dict[int, Standard] = {}


def _standard(pk: int) -> Standard:
    standard = _STANDARDS.get(pk)
    if standard is None:
        standard = _STANDARDS[pk] = Standard.objects.get(pk=pk)
    return standard


def _dt(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def _candidates(rater: User, now: datetime) -> list[tuple[int, int]]:
    gold_sql, gold_params = _gold().hidden_gold_image_shas(rater=rater).order_by().query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(
            _CANDIDATES.format(gold=gold_sql),
            [_dt(now), rater.pk, rater.pk, rater.pk, *gold_params, config.candidate_pool_size()],
        )
        return cur.fetchall()


def _lock_open(pk: int, now: datetime) -> tuple[int, Standard, Image] | None:
    """Lock one open item (SKIP LOCKED: None if another rater holds it, or it filled up)."""
    columns = ", ".join(f"i.{Image._meta.get_field(f).column}" for f in _IMAGE_FIELDS)
    sql = _LOCK.format(image_columns=columns)
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE OF p SKIP LOCKED"
    with connection.cursor() as cur:
        cur.execute(sql, [pk, _dt(now)])
        row = cur.fetchone()
    if row is None:
        return None
    image = Image.from_db(connection.alias, _IMAGE_FIELDS, list(row[2:]))
    return row[0], _standard(row[1]), image


def next_image(*, rater: User) -> QueueItem | None:
    """Lease the next image for ``rater`` (None when nothing is left for them).

    1. The rater's own unexpired lease is returned again (reload, second tab).
    2. Hidden gold, at the configured share (qualification contract), under the same kind of lease.
    3. Otherwise the top candidates in queue order; one of them, at random among those with the most ratings,
       is locked with ``SELECT … FOR UPDATE SKIP LOCKED`` and re-checked for room before the lease is written.
    """
    rater_require_certified(rater=rater)
    now = timezone.now()
    with transaction.atomic():
        lease = _existing(rater)
        if lease is not None:
            if lease.expires_at > now:
                return _item(lease, lease.pool_item.standard if lease.pool_item else _default_standard())
            lease.delete()  # expired: its slot is already back in the pool
        _relaxed_commit()
        gold = _gold().hidden_gold_pick(rater=rater)
        if gold is not None:
            lease = _lease_create(rater=rater, now=now, image=gold, is_gold=True)
            if lease is None:
                lease = _existing(rater)
            return _item(lease, lease.pool_item.standard if lease.pool_item else _default_standard())
        top = _candidates(rater, now)
        # Most ratings first (finish in-progress images), random within equal counts among the top N.
        top.sort(key=lambda row: (-row[1], random.random()))
        tries = [pk for pk, _ in top[:LOCK_TRIES]]
        if len(top) > LOCK_TRIES:
            tries.append(None)  # then the first unlocked one in queue order
        for pk in tries:
            if pk is None:
                locked = None
                for other, _ in top[LOCK_TRIES:]:
                    locked = _lock_open(other, now)
                    if locked is not None:
                        break
            else:
                locked = _lock_open(pk, now)
            if locked is None:  # locked by another rater right now, or filled up since the candidate query
                continue
            item_pk, standard, image = locked
            lease = _lease_create(rater=rater, now=now, pool_item_id=item_pk, image=image)
            if lease is None:  # a concurrent call of the same rater leased first: return that one
                lease = _existing(rater)
                if lease is None:
                    return None
                return _item(lease, lease.pool_item.standard if lease.pool_item else _default_standard())
            return QueueItem(image=image, standard=standard, expires_at=lease.expires_at)
    return None


def lease_heartbeat(*, rater: User) -> datetime:
    """Extend the rater's unexpired lease by the TTL (the open page calls this every minute)."""
    now = timezone.now()
    expires = now + timedelta(seconds=config.lease_ttl_s())
    updated = Lease.objects.filter(rater=rater, expires_at__gt=now).update(
        heartbeat_at=now, expires_at=expires
    )
    if not updated:
        raise ConflictError("You hold no current image (the lease expired); ask for the next image.")
    return expires


def lease_skip(*, rater: User, reason: str = Skip.Reason.SKIP, note: str = "") -> None:
    """Give the current image back (skip, can't judge, or report); it is not offered to this rater again."""
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
    """Housekeeping: delete leases expired for a while (they no longer count anyway)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    deleted, _ = Lease.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
