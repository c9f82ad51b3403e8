"""Many raters at once (threads, one DB connection each) on PostgreSQL: no image over its target, no duplicate
rating, no lost submission. On SQLite the IMMEDIATE transactions serialise writers instead (same invariants)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotation.scoring.models import Lease, PoolItem, Rating
from annotation.scoring.services.queue import next_image
from annotation.scoring.services.ratings import rating_submit
from humanbeauty.errors import ConflictError

from .conftest import ensure_seeded_standard, make_pool, valid_scores

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
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

    def work(rater) -> None:
        try:
            barrier.wait()
            for step in range(N_IMAGES + 2):
                item = next_image(rater=rater)
                if item is None:
                    break
                sha = item.image.sha256
                try:
                    receipt = rating_submit(rater=rater, image_sha256=sha, scores=valid_scores(step))
                except ConflictError:
                    continue
                # a double click: the same submission again must not create a second row
                again = rating_submit(rater=rater, image_sha256=sha, scores=valid_scores(step))
                assert not again.created
                if receipt.created:
                    with lock:
                        accepted.append((sha, rater.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(r,)) for r in raters]
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
