"""Raters hammering the queue over real HTTP (live_server, threaded WSGI, PostgreSQL) with hidden gold
switched on (30 % share) and three threads per rater sending the same calls at once: every next and every
submit of a rater is sent by all its threads together. Checked: 0 lost (every 201 is a stored answer and
every stored answer had one 201), 0 doubled (one 201 per rater and image, the other copies the same 200
body), 0 over target, 0 responses of 5xx."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict

import pytest
import requests
from django.db import connection, connections

from annotation.qualification.models import HiddenGoldExposure
from annotation.scoring.models import PoolItem, Rating

from .conftest import ensure_seeded_standard, make_pool, valid_scores

pytestmark = pytest.mark.django_db(transaction=True)

N_RATERS = 6
THREADS_PER_RATER = 3
N_IMAGES = 10
TARGET = 4


def _raters(admin_user, make_user) -> list[tuple[object, str]]:
    from rest_framework.authtoken.models import Token

    from annotation.models import Standard
    from annotation.qualification.contract import volunteer_certify_by_admin
    from annotation.qualification.services.protocols import protocol_create
    from annotation.qualification.services.states import enrollment_create

    protocol = protocol_create(
        standard=Standard.objects.get(key="humanbeauty-v1"), created_by=admin_user, name="gold-heavy"
    )
    protocol.hidden_gold_share = 0.3
    protocol.save(update_fields=["hidden_gold_share"])
    out = []
    for i in range(N_RATERS):
        user = make_user("volunteer", username=f"http{i}")
        enrollment_create(user=user, protocol=protocol)
        volunteer_certify_by_admin(user=user, admin=admin_user, reason="test")
        out.append((user, Token.objects.create(user=user).key))
    return out


def test_many_threads_per_rater_with_hidden_gold_over_http(live_server, admin_user, make_user) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the HTTP race test needs PostgreSQL (SQLite serialises every writer)")
    ensure_seeded_standard()
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(30)
    make_pool(N_IMAGES, target=TARGET)
    raters = _raters(admin_user, make_user)
    base = live_server.url
    statuses: Counter[int] = Counter()
    created: dict[tuple[int, str], int] = defaultdict(int)
    duplicate_bodies: dict[tuple[int, str], set[str]] = defaultdict(set)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def rater_loop(user, token: str) -> None:
        barrier = threading.Barrier(THREADS_PER_RATER)
        nexts: list[dict | None] = [None] * THREADS_PER_RATER

        def thread(k: int) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            try:
                for step in range(3 * N_IMAGES):
                    barrier.wait(timeout=60)
                    r = session.post(f"{base}/api/scoring/next/", timeout=60)
                    with lock:
                        statuses[r.status_code] += 1
                    nexts[k] = r.json()["item"] if r.status_code == 200 else None
                    barrier.wait(timeout=60)
                    # Concurrent nexts of one rater give one lease. (A call may still answer "nothing
                    # left" while every candidate is row-locked by *other* raters: SKIP LOCKED.)
                    items = {json.dumps(n, sort_keys=True) for n in nexts if n is not None}
                    assert len(items) <= 1, items
                    if not items:
                        return
                    item = json.loads(items.pop())
                    body = {"image": item["image"], "scores": valid_scores(step), "dwell_ms": 1000}
                    r = session.post(f"{base}/api/scoring/ratings/", json=body, timeout=60)
                    key = (user.pk, item["image"])
                    with lock:
                        statuses[r.status_code] += 1
                        if r.status_code == 201:
                            created[key] += 1
                            duplicate_bodies[key].add(json.dumps({**r.json(), "created": False}))
                        elif r.status_code == 200:
                            duplicate_bodies[key].add(json.dumps(r.json()))
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()
            finally:
                session.close()

        threads = [threading.Thread(target=thread, args=(k,)) for k in range(THREADS_PER_RATER)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)

    workers = [threading.Thread(target=rater_loop, args=r) for r in raters]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=900)
    connections.close_all()
    assert not errors, errors[:3]
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    # 0 doubled: one 201 per (rater, image); the other copies got the same body as the stored answer
    assert all(n == 1 for n in created.values()), [k for k, n in created.items() if n != 1]
    assert all(len(bodies) == 1 for bodies in duplicate_bodies.values())
    # 0 lost: the 201s are exactly the stored answers, pool ratings and hidden-gold answers together
    ratings = set(Rating.objects.values_list("rater_id", "image_id"))
    gold = set(
        HiddenGoldExposure.objects.filter(answered_at__isnull=False).values_list(
            "rater_id", "gold_item__image_id"
        )
    )
    assert len(ratings) == Rating.objects.count()
    assert set(created) == ratings | gold and not ratings & gold
    assert gold, "hidden gold was served and answered during the run"
    # 0 over target, counters equal to rows
    per_image = Counter(img for _, img in ratings)
    for item in PoolItem.objects.all():
        assert per_image[item.image_id] == item.ratings_done <= item.target
