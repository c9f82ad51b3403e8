"""Benchmark: can a rater tell hidden gold from pool items by timing? (issue: hidden gold that no rater can
tell apart).

Creates a scratch PostgreSQL database, migrates it, seeds a pool (target 9), a gold bank and certified
raters whose protocol serves hidden gold at a third of the items, starts gunicorn, and has one client go
round the raters sequentially (one keep-alive connection per rater, no concurrency: latency, not
throughput). Per item: ``POST /next/`` (timed), an invalid submit (a score out of range: 400, timed), the
submit (timed). Afterwards each call is classified gold or pool from the database (the client cannot), the
pool calls are split into two samples (alternate items), and for each call kind the script prints the
medians, the gold/pool median ratio, the ratio between two pool samples (alternate items) and, as the
spread between pool samples, the 95 % range of that ratio over 400 random splits of the pool calls (one
part as large as the gold sample). Gold is indistinguishable by timing when its ratio lies in that range.

    .venv/bin/python bench/bench_gold_timing.py [--raters 15] [--steps 110] [--pool 3000] [--gold 90]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import (
    DIMENSIONS,
    PG,
    ROOT,
    _admin_sql,
    _free_port,
    seed_queue,
    setup_django,
    start_gunicorn,
)

BROKER = os.environ.get("HB_BENCH_BROKER", "redis://127.0.0.1:6379/2")


def seed_gold(n_gold: int, share: float) -> None:
    """A gold bank of ``n_gold`` images (rows like the pool's: same size and format) and a protocol with
    the given hidden-gold share for every bench rater."""
    import hashlib

    from annotation.models import Image, User
    from annotation.qualification.models import Enrollment, GoldItem, Protocol
    from annotation.selectors import default_standard

    standard = default_standard()
    images = []
    for i in range(n_gold):
        sha = hashlib.sha256(f"bench-gold-{i}".encode()).hexdigest()
        img = Image(
            sha256=sha, original_sha256=sha, width=640, height=800, format="JPEG", size_bytes=1,
            provenance="gold",
        )  # fmt: skip
        img.file.name = f"images/{sha}.jpg"
        images.append(img)
    Image.objects.bulk_create(images)
    rng = random.Random(0)
    GoldItem.objects.bulk_create(
        [
            GoldItem(
                image=img,
                standard=standard,
                expert_mean={k: round(rng.uniform(0.2, 0.8), 2) for k in DIMENSIONS},
            )
            for img in images
        ]
    )
    protocol = Protocol.objects.create(name="bench", standard=standard, hidden_gold_share=share)
    Enrollment.objects.filter(user__in=User.objects.filter(username__startswith="bench")).update(
        protocol=protocol
    )


def _call(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict) -> tuple[int, dict, float]:
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, json.loads(data) if data else {}, (time.perf_counter() - t0) * 1000


def run(port: int, tokens: list[str], steps: int) -> tuple[list[tuple[str, str, float]], list[str]]:
    """Round-robin over raters: next, invalid submit, submit. Returns (kind, image, ms) rows and errors."""
    conns = {t: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for t in tokens}
    rng = random.Random(1)
    rows: list[tuple[str, str, float]] = []
    errors: list[str] = []
    for _ in range(steps):
        for token in tokens:
            conn, headers = (
                conns[token],
                {"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            status, body, ms = _call(conn, "/api/scoring/next/", b"", headers)
            if status != 200 or body.get("item") is None:
                errors.append(f"next {status}")
                continue
            sha = body["item"]["image"]
            rows.append(("next", sha, ms))
            bad = {"image": sha, "scores": dict.fromkeys(DIMENSIONS, 0.5) | {"overall": 2}}
            status, _, ms = _call(conn, "/api/scoring/ratings/", json.dumps(bad).encode(), headers)
            if status != 400:
                errors.append(f"invalid {status}")
            rows.append(("invalid submit", sha, ms))
            good = {"image": sha, "scores": {k: round(rng.uniform(0.1, 0.9), 2) for k in DIMENSIONS}}
            status, _, ms = _call(conn, "/api/scoring/ratings/", json.dumps(good).encode(), headers)
            if status != 201:
                errors.append(f"submit {status}")
            rows.append(("submit", sha, ms))
    for conn in conns.values():
        conn.close()
    return rows, errors


def _null_range(pool: list[float], n: int, rounds: int = 400) -> tuple[float, float]:
    """Pool-vs-pool: the 2.5-97.5 % range of median(random n pool calls) / median(the other pool calls),
    i.e. how far two samples of the same kind drift apart at these sample sizes on this machine."""
    rng = random.Random(7)
    ratios = []
    for _ in range(rounds):
        shuffled = pool[:]
        rng.shuffle(shuffled)
        ratios.append(statistics.median(shuffled[:n]) / statistics.median(shuffled[n:]))
    ratios.sort()
    return ratios[int(0.025 * rounds)], ratios[int(0.975 * rounds) - 1]


def summarise(rows: list[tuple[str, str, float]], gold_shas: set[str]) -> list[dict]:
    out = []
    for kind in ("next", "invalid submit", "submit"):
        gold = [ms for k, sha, ms in rows if k == kind and sha in gold_shas]
        pool = [ms for k, sha, ms in rows if k == kind and sha not in gold_shas]
        a, b = pool[0::2], pool[1::2]
        m_gold, m_pool = statistics.median(gold), statistics.median(pool)
        low, high = _null_range(pool, min(len(gold), len(pool) // 2))
        ratio = m_gold / m_pool
        out.append(
            {
                "call": kind,
                "n_gold": len(gold),
                "n_pool": len(pool),
                "median_gold_ms": round(m_gold, 2),
                "median_pool_ms": round(m_pool, 2),
                "gold_over_pool": round(ratio, 4),
                "pool_a_over_b": round(statistics.median(a) / statistics.median(b), 4),
                "pool_vs_pool_95": [round(low, 4), round(high, 4)],
                "within_pool_spread": low <= ratio <= high,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raters", type=int, default=15)
    parser.add_argument("--steps", type=int, default=110)
    parser.add_argument("--pool", type=int, default=3000)
    parser.add_argument("--gold", type=int, default=90)
    parser.add_argument("--share", type=float, default=1 / 3)
    parser.add_argument("--pool-target", type=int, default=9, help="ratings per pool image (9: production)")
    args = parser.parse_args()
    name = f"hb_bench_gold_{os.getpid()}"
    db_url = f"{PG}/{name}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    proc = None
    try:
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "-v", "0"],
            cwd=ROOT,
            check=True,
            env=dict(os.environ, DATABASE_URL=db_url),
            timeout=300,
        )
        setup_django(db_url)
        tokens = seed_queue(args.pool, args.raters)
        seed_gold(args.gold, args.share)
        from annotation.scoring.models import PoolItem

        PoolItem.objects.update(target=args.pool_target)
        port = _free_port()
        # As deployed: tasks go to a broker (here nobody consumes them; the queue is deleted at the end)
        # instead of running eagerly inside the request.
        os.environ["CELERY_BROKER_URL"] = BROKER
        proc = start_gunicorn(db_url, port, 1, 2)
        run(port, tokens[:2], 5)  # warm-up: imports, connections, prepared statements
        t0 = time.perf_counter()
        rows, errors = run(port, tokens, args.steps)
        elapsed = time.perf_counter() - t0
        from annotation.qualification.models import GoldItem

        gold_shas = set(GoldItem.objects.values_list("image_id", flat=True))
        print(f"calls: {len(rows)} in {elapsed:.1f} s, errors: {len(errors)} {errors[:5]}")
        for line in summarise(rows, gold_shas):
            print("timing:", json.dumps(line), flush=True)
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(Exception):
                proc.wait(timeout=20)
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            import redis

            redis.Redis.from_url(BROKER).delete("cpu", "default")


if __name__ == "__main__":
    main()
