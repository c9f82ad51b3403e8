"""The scoring queue: eligibility, order, leases, invariants, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.scoring.models import Lease, PoolItem, Rating, Skip
from annotation.scoring.services.queue import lease_heartbeat, lease_skip, next_image
from annotation.scoring.services.ratings import rating_submit
from humanbeauty.errors import ApplicationError, ConflictError

from .conftest import make_pool, valid_scores

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_gold")]


def test_uncertified_volunteer_gets_403(make_user) -> None:
    make_pool(3)
    with pytest.raises(ApplicationError) as exc:
        next_image(rater=make_user("volunteer"))
    assert exc.value.status == 403


def test_existing_lease_is_returned_first(rater) -> None:
    make_pool(20)
    first = next_image(rater=rater)
    again = next_image(rater=rater)
    assert again.image.sha256 == first.image.sha256
    assert Lease.objects.filter(rater=rater).count() == 1


def test_in_progress_images_come_first(rater, make_rater) -> None:
    items = make_pool(60)
    # the oldest item has 2 ratings already: it must be finished first
    PoolItem.objects.filter(pk=items[-1].pk).update(ratings_done=2)
    got = next_image(rater=rater)
    assert got.image.sha256 == items[-1].image_id


def test_eligibility_excludes_rated_skipped_own_and_full(rater, make_rater, make_user) -> None:
    own = make_pool(1, prefix="own", uploaded_by=rater)[0]
    full = make_pool(1, prefix="full", target=1)[0]
    PoolItem.objects.filter(pk=full.pk).update(ratings_done=1)
    eligible = {item.image_id for item in make_pool(4, prefix="open")}
    other = make_rater()
    offered: list[str] = []
    while (item := next_image(rater=rater)) is not None:
        offered.append(item.image.sha256)
        assert len(offered) <= len(eligible), "an item was offered again"
        if len(offered) == 1:
            rating_submit(rater=rater, image_sha256=item.image.sha256, scores=valid_scores())
        else:
            lease_skip(rater=rater)
    # Each eligible item offered exactly once (the first rated, the others skipped); own and full never.
    assert sorted(offered) == sorted(eligible)
    assert own.image_id not in offered and full.image_id not in offered
    assert Rating.objects.filter(rater=rater).count() == 1
    assert set(Skip.objects.filter(rater=rater).values_list("image_id", flat=True)) == set(offered[1:])
    # Another rater still gets the items this one skipped or rated.
    assert next_image(rater=other).image.sha256 in eligible


def test_leases_count_against_capacity(make_rater) -> None:
    make_pool(1, target=2)
    a, b, c = make_rater(), make_rater(), make_rater()
    assert next_image(rater=a) is not None
    assert next_image(rater=b) is not None
    assert next_image(rater=c) is None  # 0 done + 2 leased = target


def test_expired_lease_frees_the_slot(make_rater) -> None:
    make_pool(1, target=1)
    a, b = make_rater(), make_rater()
    item = next_image(rater=a)
    assert next_image(rater=b) is None
    Lease.objects.filter(rater=a).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert next_image(rater=b).image.sha256 == item.image.sha256
    with pytest.raises(ConflictError):
        lease_heartbeat(rater=a)  # a's lease expired
    # a submits late: the slot is b's now, but capacity is checked at write time, so a's rating still fits
    # only if there is room; here b holds the last slot and a's late answer is accepted first-come
    receipt = rating_submit(rater=a, image_sha256=item.image.sha256, scores=valid_scores())
    assert receipt.created
    with pytest.raises(ConflictError):
        rating_submit(rater=b, image_sha256=item.image.sha256, scores=valid_scores(1))
    assert PoolItem.objects.get().ratings_done == 1
    assert Rating.objects.count() == 1


def test_heartbeat_extends_the_lease(rater, settings) -> None:
    settings.HB_SCORING_LEASE_TTL_S = 60
    make_pool(1)
    item = next_image(rater=rater)
    Lease.objects.filter(rater=rater).update(expires_at=timezone.now() + timedelta(seconds=5))
    new_expiry = lease_heartbeat(rater=rater)
    assert new_expiry > item.expires_at - timedelta(seconds=1)
    assert Lease.objects.get(rater=rater).expires_at == new_expiry


def test_skip_releases_and_never_reoffers(rater) -> None:
    make_pool(1)
    item = next_image(rater=rater)
    lease_skip(rater=rater, reason="cant_judge")
    assert not Lease.objects.exists()
    assert Skip.objects.get().reason == "cant_judge"
    assert next_image(rater=rater) is None
    with pytest.raises(ApplicationError):
        lease_skip(rater=rater)
    assert item is not None


def test_submit_releases_lease_and_counts(rater) -> None:
    make_pool(1, target=3)
    item = next_image(rater=rater)
    receipt = rating_submit(rater=rater, image_sha256=item.image.sha256, scores=valid_scores(), dwell_ms=4200)
    assert receipt.created
    assert not Lease.objects.exists()
    pool = PoolItem.objects.get()
    assert pool.ratings_done == 1
    rating = Rating.objects.get()
    assert rating.dwell_ms == 4200 and len(rating.scores) == 12
    assert next_image(rater=rater) is None  # never the same image twice


def test_database_refuses_over_target_and_duplicates(rater) -> None:
    item = make_pool(1, target=1)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        PoolItem.objects.filter(pk=item.pk).update(ratings_done=2)  # CHECK ratings_done <= target
    Rating.objects.create(
        pool_item=item, image_id=item.image_id, rater=rater, standard_id=item.standard_id, scores=[0.5] * 12
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(
            pool_item=item,
            image_id=item.image_id,
            rater=rater,
            standard_id=item.standard_id,
            scores=[0.5] * 12,
        )


@pytest.mark.parametrize("pool_size", [10, 1000])
def test_query_count_is_constant(make_rater, django_assert_max_num_queries, pool_size) -> None:
    """Constant and small whatever the pool size (Label Studio: 45-73 per call). Counted: every statement,
    BEGIN/COMMIT/SAVEPOINT included where the backend logs them."""
    from annotation.scoring.services.queue import rating_submit_then_next

    make_pool(pool_size)
    raters = [make_rater() for _ in range(3)]
    # some history so the exclusions have rows to look at
    for r in raters[:2]:
        got = next_image(rater=r)
        rating_submit(rater=r, image_sha256=got.image.sha256, scores=valid_scores())
    r = raters[2]
    with django_assert_max_num_queries(
        10
    ):  # policy, BEGIN, SET LOCAL, rater lock, lease, candidates, lock, gold draw, insert, COMMIT
        got = next_image(rater=r)
    # a reload: policy, BEGIN, SET LOCAL, rater lock, the same lease again, COMMIT
    with django_assert_max_num_queries(6):
        assert next_image(rater=r).image.sha256 == got.image.sha256
    # policy, lease, BEGIN, capacity UPDATE, INSERT, lease DELETE, COMMIT
    with django_assert_max_num_queries(7):
        rating_submit(rater=r, image_sha256=got.image.sha256, scores=valid_scores())
    got = next_image(rater=r)
    with django_assert_max_num_queries(16):  # the page's flow: submit + next in one call, no lease look-up
        receipt, got = rating_submit_then_next(rater=r, image_sha256=got.image.sha256, scores=valid_scores())
    assert receipt.created and got is not None
    with django_assert_max_num_queries(4):
        lease_heartbeat(rater=r)


def test_sql_candidates_match_the_orm_reference(rater, make_rater, no_gold, monkeypatch) -> None:
    """The hand-written candidate statement and ``eligible_items`` (the readable reference) agree."""
    from annotation.scoring.services import queue
    from annotation.scoring.services.queue import _candidates, eligible_items

    monkeypatch.setattr(queue.random, "random", lambda: 0.5)  # no shuffle: queue order, reproducible
    items = make_pool(30, target=2)
    make_pool(2, prefix="own", uploaded_by=rater)
    PoolItem.objects.filter(pk=items[0].pk).update(ratings_done=2)  # full
    PoolItem.objects.filter(pk=items[1].pk).update(ratings_done=1, priority=5.0)
    PoolItem.objects.filter(pk=items[2].pk).update(active=False)
    leased = [next_image(rater=make_rater()) for _ in range(3)]  # leases count against capacity
    assert all(got is not None for got in leased)
    # the first takes the 1-done item's last slot; the next two fill the first item in queue order
    assert leased[0].image.sha256 == items[1].image_id
    assert leased[1].image.sha256 == leased[2].image.sha256 == items[3].image_id
    rated = next_image(rater=rater)
    rating_submit(rater=rater, image_sha256=rated.image.sha256, scores=valid_scores())
    skipped = next_image(rater=rater)
    lease_skip(rater=rater)
    now = timezone.now()
    orm = list(eligible_items(rater=rater, now=now).values_list("pk", "ratings_done")[:50])
    assert _candidates(rater, now) == orm
    # minus: full, 1-done item now leased to its last slot, inactive, filled by two leases, rated, skipped;
    # own uploads never
    gone = {items[i].image_id for i in (0, 1, 2, 3)} | {rated.image.sha256, skipped.image.sha256}
    assert len(gone) == 6
    assert {pk for pk, _ in orm} == {item.pk for item in items if item.image_id not in gone}


def test_a_lease_is_written_only_while_the_item_has_room(make_rater, no_gold) -> None:
    """The room check runs again inside the lease INSERT (after the row lock): a full item gets no lease."""
    from annotation.scoring.services.queue import _lease_create

    item = make_pool(1, target=1)[0]
    first, second = make_rater(), make_rater()
    got = next_image(rater=first)  # takes the only slot
    assert got is not None and got.image.sha256 == item.image_id
    assert _lease_create(rater=second, now=timezone.now(), image=got.image, pool_item_id=item.pk) is None
    assert not Lease.objects.filter(rater=second).exists()
    assert next_image(rater=second) is None


def test_an_item_filled_after_the_lock_statement_does_not_end_the_search(
    make_rater, no_gold, monkeypatch
) -> None:
    """Under contention the INSERT's room check can fail for the item just locked (a lease committed after
    the lock statement's snapshot). The queue then tries the other candidates instead of answering
    "nothing left" while the pool still has room."""
    from annotation.scoring.services import queue

    make_pool(5, target=2)
    rater = make_rater()
    real = queue._lease_create
    refused: list[int] = []

    def full_the_first_four(**kwargs):
        if kwargs.get("pool_item_id") is not None and len(refused) < 4:
            refused.append(kwargs["pool_item_id"])
            return None  # as if another rater's lease had just taken the last slot
        return real(**kwargs)

    monkeypatch.setattr(queue, "_lease_create", full_the_first_four)
    got = next_image(rater=rater)
    assert got is not None and len(set(refused)) == 4
    lease = Lease.objects.get(rater=rater)
    assert lease.pool_item_id not in refused


def test_an_expired_lease_left_by_another_tab_does_not_block_the_next_image(make_rater, no_gold) -> None:
    """Submit-and-next skips the current-lease look-up; a stale expired lease then conflicts with the new
    lease's INSERT, is found expired, deleted, and the next image is still served."""
    make_pool(3, target=2)
    rater = make_rater()
    first = next_image(rater=rater)
    Lease.objects.filter(rater=rater).update(expires_at=timezone.now() - timedelta(seconds=1))
    got = next_image(rater=rater, lease_free=True)
    assert got is not None and got.expires_at > timezone.now()
    assert Lease.objects.get(rater=rater).image_id == got.image.sha256
    assert first is not None


def test_hidden_gold_is_served_despite_a_stale_expired_lease(make_rater, monkeypatch) -> None:
    from annotation.qualification.services import monitoring
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(3)
    make_pool(2, target=2)
    rater = make_rater()
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.999)  # a normal item first
    assert next_image(rater=rater) is not None
    Lease.objects.filter(rater=rater).update(expires_at=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)  # then gold is drawn
    got = next_image(rater=rater, lease_free=True)
    assert got is not None and got.image.provenance == "gold"
    assert Lease.objects.get(rater=rater).is_gold


def test_bulk_pool_load_analyzes_the_pool_table() -> None:
    """A bulk load ends with ANALYZE, so the queue's plan knows the new rows at once (PostgreSQL)."""
    from django.db import connection

    from annotation.models import Standard
    from annotation.scoring.services.pool import pool_add_many

    from .conftest import fake_images

    if connection.vendor != "postgresql":
        pytest.fail("this test needs DATABASE_URL pointing at PostgreSQL (as make test and CI set)")
    images = fake_images(37, "bulk")
    standard = Standard.objects.get(key="humanbeauty-v1")
    assert pool_add_many(images=images, standard=standard) == 37
    assert pool_add_many(images=images[:5], standard=standard) == 5  # already there: left alone
    assert PoolItem.objects.count() == 37
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [PoolItem._meta.db_table])
        assert cur.fetchone()[0] == 37  # statistics written by ANALYZE (never-analyzed tables say -1)


def test_gold_and_pool_calls_run_the_same_statements(make_rater, monkeypatch) -> None:
    """Next, invalid submit, submit and resubmit issue as many statements for a gold item as for a pool item
    (timing must not tell them apart; figures from bench/bench_gold_timing.py in docs/benchmarks.md)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotation.qualification.services import monitoring
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(3)
    make_pool(10)
    counts = {}
    for draw in (0.0, 0.999):
        monkeypatch.setattr(monitoring._random, "random", lambda draw=draw: draw)
        rater = make_rater()
        with CaptureQueriesContext(connection) as served:
            item = next_image(rater=rater)
        assert (item.image.provenance == "gold") is (draw == 0.0)
        with CaptureQueriesContext(connection) as invalid, pytest.raises(ApplicationError):
            rating_submit(rater=rater, image_sha256=item.image.sha256, scores={"overall": 2})
        with CaptureQueriesContext(connection) as submitted:
            rating_submit(rater=rater, image_sha256=item.image.sha256, scores=valid_scores())
        with CaptureQueriesContext(connection) as again:
            rating_submit(rater=rater, image_sha256=item.image.sha256, scores=valid_scores())
        counts[draw] = [len(served), len(invalid), len(submitted), len(again)]
    if connection.vendor != "postgresql":  # SQLite writes the exposure with a second statement
        counts[0.0][0] -= 1
    assert counts[0.0] == counts[0.999]
