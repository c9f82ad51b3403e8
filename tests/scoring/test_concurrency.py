"""Many raters at once (threads, one DB connection each) on PostgreSQL: no image over its target, no duplicate
rating, no lost submission. On SQLite the IMMEDIATE transactions serialise writers instead (same invariants)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotation.scoring.models import Lease, PoolItem, Rating
from annotation.scoring.services.queue import next_image, rating_submit_then_next
from annotation.scoring.services.ratings import rating_submit
from humanbeauty.errors import ConflictError

from .conftest import ensure_seeded_standard, make_pool, valid_scores

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_gold"),
]

N_RATERS = 24
N_IMAGES = 12
TARGET = 5


def test_parallel_raters_keep_every_invariant(make_rater) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the thread-level race test needs PostgreSQL (SQLite serialises every writer)")
    ensure_seeded_standard()
    make_pool(N_IMAGES, target=TARGET)
    raters = [make_rater(f"par{i}") for i in range(N_RATERS)]
    accepted: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(N_RATERS)

    def work(rater, combined: bool) -> None:
        """Half the raters use the page's flow (submit returns the next image), half call next, then submit."""
        try:
            barrier.wait()
            item = next_image(rater=rater)
            for step in range(N_IMAGES + 2):
                if item is None:
                    break
                sha = item.image.sha256
                try:
                    if combined:
                        receipt, following = rating_submit_then_next(
                            rater=rater, image_sha256=sha, scores=valid_scores(step)
                        )
                    else:
                        receipt = rating_submit(rater=rater, image_sha256=sha, scores=valid_scores(step))
                except ConflictError:
                    item = next_image(rater=rater)
                    continue
                # a double click: the same submission again must not create a second row
                again = rating_submit(rater=rater, image_sha256=sha, scores=valid_scores(step))
                assert not again.created
                if receipt.created:
                    with lock:
                        accepted.append((sha, rater.pk))
                item = following if combined else next_image(rater=rater)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(r, i % 2 == 1)) for i, r in enumerate(raters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    # raters that found nothing while every slot was leased may have stopped before a top-up raised a
    # target: one sequential sweep finishes those (every rating is still checked below)
    for rater in raters:
        while (item := next_image(rater=rater)) is not None:
            receipt = rating_submit(rater=rater, image_sha256=item.image.sha256, scores=valid_scores(7))
            accepted.append((item.image.sha256, rater.pk))
            assert receipt.created
    rows = list(Rating.objects.values_list("image_id", "rater_id"))
    assert len(rows) == len(set(rows)), "duplicate (image, rater)"
    assert sorted(rows) == sorted(accepted), "a submission that was acknowledged is missing (or vice versa)"
    per_image = Counter(img for img, _ in rows)
    for item in PoolItem.objects.all():
        assert per_image[item.image_id] == item.ratings_done <= item.target
    # every slot was used (24 raters offer more than the 5..15 ratings each image can reach with top-ups)
    items = list(PoolItem.objects.all())
    assert all(item.ratings_done == item.target >= TARGET for item in items), [
        (i.ratings_done, i.target) for i in items
    ]
    assert sum(per_image.values()) == sum(item.target for item in items)
    assert not Lease.objects.filter(pool_item__isnull=False).exists()


def test_items_locked_by_other_raters_are_passed_over(make_rater) -> None:
    """SKIP LOCKED: with the first five items of the queue row-locked by other sessions (raters in the middle of
    taking a lease), the queue hands out the one free item, through its fallback after three single tries."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks from a second session need PostgreSQL")
    ensure_seeded_standard()
    items = make_pool(6, target=1)
    rater = make_rater("locked-out")
    held, release = threading.Event(), threading.Event()
    locked_ids = [item.pk for item in items[:5]]

    def hold_locks() -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                list(PoolItem.objects.select_for_update().filter(pk__in=locked_ids))
                held.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_locks)
    holder.start()
    try:
        assert held.wait(timeout=30)
        got = next_image(rater=rater)
        assert got is not None and got.image.sha256 == items[5].image_id
        assert Lease.objects.get(rater=rater).pool_item_id == items[5].pk
    finally:
        release.set()
        holder.join(timeout=30)
