"""An adversarial rater tries to tell hidden gold from pool items. For every endpoint a volunteer can call,
the same sequence of calls is run once with a gold item served and once with a pool item, each time by a
fresh rater in the same state, and the two transcripts must be identical field by field: status, headers
(less Date), body with the image's sha256 and the timestamps masked (their format kept), for certified and
uncertified users. Images are real stored files of the same size and encoder for both kinds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotation.models import Image, Standard
from annotation.qualification.services import monitoring
from annotation.scoring.models import Lease, PoolItem
from annotation.services.images import image_ingest
from tests.conftest import jpeg_bytes

from .conftest import valid_scores

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
SHA = re.compile(r"[0-9a-f]{64}")
IGNORED_HEADERS = {"date"}


def _stored_images(n: int, provenance: str, seed: int) -> list[Image]:
    return [image_ingest(data=jpeg_bytes(48, 64, seed=seed + i), provenance=provenance)[0] for i in range(n)]


@pytest.fixture
def world(admin_user):
    """A pool of stored images and a gold bank of images made the same way (same size, same encoder)."""
    from annotation.qualification.services.gold import gold_item_upsert
    from annotation.standards.humanbeauty import DIMENSION_KEYS

    standard = Standard.objects.get(key="humanbeauty-v1")
    for image in _stored_images(6, Image.Provenance.COLLECTED, seed=100):
        PoolItem.objects.create(image=image, standard=standard, target=5)
    for image in _stored_images(6, Image.Provenance.GOLD, seed=200):
        gold_item_upsert(image=image, standard=standard, mean=dict.fromkeys(DIMENSION_KEYS, 0.5))
    return standard


class Transcript:
    """Every response of one sequence, normalised for comparison."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sha: str | None = None
        self.entries: list[tuple[str, int, dict[str, str], str]] = []

    def call(self, label: str, method: str, path: str, body: Any = None) -> Any:
        response = getattr(self.client, method)(path, body, format="json")
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in IGNORED_HEADERS}
        text = b"".join(response) if response.streaming else response.content
        text = text.decode("latin-1")
        text = SHA.sub("<sha>", text)  # image ids masked (every 64-hex string: the ids are all there is)
        headers = {k: SHA.sub("<sha>", v) for k, v in headers.items()}
        text = TIMESTAMP.sub(lambda m: "<ts" + ("." * len(m.group(1) or "")) + ">", text)
        self.entries.append((label, response.status_code, headers, text))
        return response


def _sequence(client_for, rater, draw: float, monkeypatch, *, certified: bool) -> Transcript:
    """next, file, heartbeat, invalid submit, submit, resubmit, session counters, file after submit,
    next + skip + submit the skipped image, next + expired lease (heartbeat, late submit) and next again."""
    monkeypatch.setattr(monitoring._random, "random", lambda: draw)
    t = Transcript(client_for(None, user=rater))
    t.call("session before", "get", "/api/scoring/session/")
    first = t.call("next", "post", "/api/scoring/next/")
    item = (first.json() or {}).get("item") if first.status_code == 200 else None
    if not certified:
        # Whatever the image, gold or pool, seen or not: one 403.
        for kind in ("gold", "pool"):
            image = Image.objects.filter(provenance="gold" if kind == "gold" else "collected").first()
            t.sha = image.sha256
            t.call(f"submit {kind}", "post", "/api/scoring/ratings/", {"image": image.sha256, "scores": {}})
            t.call(f"file {kind}", "get", f"/api/images/{image.sha256}/file/")
        t.sha = None
        t.call("heartbeat", "post", "/api/scoring/lease/heartbeat/")
        t.call("skip", "post", "/api/scoring/lease/skip/", {"reason": "skip"})
        return t
    assert item is not None
    expected_gold = draw < 0.5
    assert (Image.objects.get(sha256=item["image"]).provenance == "gold") is expected_gold
    t.sha = item["image"]
    t.call("re-next (same lease)", "post", "/api/scoring/next/")
    t.call("file", "get", item["image_url"])
    t.call("thumb", "get", item["thumb_url"])
    t.call("heartbeat", "post", "/api/scoring/lease/heartbeat/")
    t.call(
        "invalid: range", "post", "/api/scoring/ratings/", {"image": item["image"], "scores": {"overall": 2}}
    )
    all_none = dict.fromkeys(valid_scores())
    t.call("invalid: all none", "post", "/api/scoring/ratings/", {"image": item["image"], "scores": all_none})
    scores = valid_scores() | {"looks": 0.123456, "environment": None}
    body = {"image": item["image"], "scores": scores, "reported": True, "report_reason": "x", "dwell_ms": 5}
    created = t.call("submit", "post", "/api/scoring/ratings/", body)
    assert created.status_code == 201 and created.json()["scores"]["looks"] == 0.1235
    again = t.call("resubmit", "post", "/api/scoring/ratings/", {**body, "scores": valid_scores(3)})
    assert again.json()["created_at"] == created.json()["created_at"]
    assert again.json()["scores"] == created.json()["scores"]
    t.call("session after", "get", "/api/scoring/session/")
    t.call("file after submit", "get", item["image_url"])
    t.call("heartbeat without lease", "post", "/api/scoring/lease/heartbeat/")
    t.call("skip without lease", "post", "/api/scoring/lease/skip/", {"reason": "skip"})

    # skip, then submit the skipped image
    second = t.call("next 2", "post", "/api/scoring/next/").json()["item"]
    t.sha = second["image"]
    t.call("skip", "post", "/api/scoring/lease/skip/", {"reason": "cant_judge"})
    t.call("submit after skip", "post", "/api/scoring/ratings/", {"image": second["image"], "scores": scores})
    t.call("file after skip", "get", second["image_url"])

    # an expired lease: heartbeat refused, a late submit still accepted while the item has room
    third = t.call("next 3", "post", "/api/scoring/next/").json()["item"]
    t.sha = third["image"]
    Lease.objects.filter(rater=rater).update(expires_at=timezone.now() - timedelta(seconds=5))
    t.call("heartbeat expired", "post", "/api/scoring/lease/heartbeat/")
    t.call("late submit", "post", "/api/scoring/ratings/", {"image": third["image"], "scores": scores})
    # an expired lease, then next: the old image is never offered again, and can no longer be submitted
    fourth = t.call("next 4", "post", "/api/scoring/next/").json()["item"]
    t.sha = fourth["image"]
    Lease.objects.filter(rater=rater).update(expires_at=timezone.now() - timedelta(seconds=5))
    fifth = t.call("next after expiry", "post", "/api/scoring/next/").json()["item"]
    assert fifth is not None and fifth["image"] != fourth["image"]
    t.call(
        "submit expired then replaced",
        "post",
        "/api/scoring/ratings/",
        {"image": fourth["image"], "scores": scores},
    )
    t.call("session end", "get", "/api/scoring/session/")
    return t


def _compare(gold: Transcript, pool: Transcript) -> None:
    assert [e[0] for e in gold.entries] == [e[0] for e in pool.entries]
    for g, p in zip(gold.entries, pool.entries, strict=True):
        assert g[1] == p[1], (g[0], g[1], p[1], g[3], p[3])
        g_headers = dict(g[2])
        p_headers = dict(p[2])
        if g[0].startswith(("file", "thumb")) and g[1] == 200:
            # the bytes differ (two photographs), so may their length: everything else must match
            g_headers.pop("content-length"), p_headers.pop("content-length")
        assert g_headers == p_headers, g[0]
        if not g[0].startswith(("file", "thumb")):
            assert g[3] == p[3], (g[0], g[3], p[3])


@pytest.mark.parametrize("certified", [True, False], ids=["certified", "uncertified"])
def test_gold_and_pool_cannot_be_told_apart(
    client_for, make_user, certify, world, monkeypatch, certified
) -> None:
    """Every item in one transcript is gold (draw 0.0), every one in the other is pool (draw 0.999)."""
    gold_rater, pool_rater = make_user("volunteer"), make_user("volunteer")
    if certified:
        certify(gold_rater), certify(pool_rater)
    gold = _sequence(client_for, gold_rater, 0.0, monkeypatch, certified=certified)
    pool = _sequence(client_for, pool_rater, 0.999, monkeypatch, certified=certified)
    _compare(gold, pool)
    if certified:
        assert gold.entries[-1][3] == pool.entries[-1][3] == '{"rated_session":2,"rated_total":2}'


def test_uncertified_and_unleased_answers_are_one_whatever_the_image(
    client_for, make_user, certify, world
) -> None:
    """403 for an uncertified volunteer and 409 for a certified one without a lease, with one body, for a
    gold image, a pool image, an image outside both and a sha256 that does not exist."""
    gold_sha = Image.objects.filter(provenance="gold").first().sha256
    pool_sha = PoolItem.objects.first().image_id
    other = image_ingest(data=jpeg_bytes(48, 64, seed=999), provenance="public")[0].sha256
    shas = [gold_sha, pool_sha, other, "f" * 64]
    for user, status in ((make_user("volunteer"), 403), (certify(make_user("volunteer")), 409)):
        client = client_for(None, user=user)
        bodies = set()
        for sha in shas:
            r = client.post("/api/scoring/ratings/", {"image": sha, "scores": valid_scores()}, format="json")
            assert r.status_code == status
            bodies.add(r.content)
            f = client.get(f"/api/images/{sha}/file/")
            assert f.status_code == 404 and f.json() == {"message": "No such image.", "extra": {}}
        assert len(bodies) == 1, bodies


def test_gold_is_never_served_when_the_pool_has_nothing_for_the_rater(
    client_for, certify, make_user, world, monkeypatch
) -> None:
    """Gold is drawn only once a pool item was locked: "nothing left" is never followed by gold."""
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)  # every draw says gold
    rater = certify(make_user("volunteer"))
    client = client_for(None, user=rater)
    PoolItem.objects.update(active=False)
    assert client.post("/api/scoring/next/").json()["item"] is None
    assert not Lease.objects.exists()
    PoolItem.objects.filter(pk=PoolItem.objects.first().pk).update(active=True, target=1, ratings_done=0)
    item = client.post("/api/scoring/next/").json()["item"]
    assert Image.objects.get(sha256=item["image"]).provenance == "gold"
    lease = Lease.objects.get(rater=rater)
    assert lease.is_gold and lease.pool_item is not None  # it holds the pool item's slot like a pool lease
    other = certify(make_user("volunteer"))
    assert client_for(None, user=other).post("/api/scoring/next/").json()["item"] is None  # slot taken
