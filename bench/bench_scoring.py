"""Benchmark: the scoring queue over HTTP and the full re-aggregation service, on PostgreSQL.

1. Queue: creates a scratch database (``hb_bench_scoring_<pid>``), migrates it, seeds a pool and certified
   raters, starts gunicorn on 127.0.0.1 and runs N concurrent simulated raters (threads, one keep-alive
   HTTP connection each) for a fixed time, in two flows: the scoring page's (``POST /api/scoring/ratings/``
   with ``"next": true``: one request per image) and the two-call one (``/next/`` then ``/ratings/``).
   Closed loop (``--levels``: no pause at all, the saturation test) and paced (``--paced``: raters that
   pause an exponential think time before each submit). Reports pairs/s and p50/p95/p99 latency of one
   next+submit pair (the pause excluded).
2. Re-aggregation: loads 50,000 images x 9 ratings x 12 dimensions into the same database (COPY) and times
   ``scoring_reaggregate`` (DB load + MOS/CI + SUREAL + screening + reliability + writes), plus the pure
   computation alone.

The scratch database is dropped at the end (also on failure). Client, server and database share the machine.

    .venv/bin/python bench/bench_scoring.py [--levels 18,64] [--paced 64:1,368:5] [--mode both]
        [--seconds 15] [--pool 5000] [--images 50000] [--skip-queue] [--skip-aggregation] [--crowd mixed]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG = os.environ.get("HB_BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humanbeauty.settings")
    import django

    django.setup()


def seed_queue(pool: int, n_raters: int) -> list[str]:
    """Pool of ``pool`` images (rows only) at target 9, ``n_raters`` certified raters; returns their tokens."""
    import hashlib

    from rest_framework.authtoken.models import Token

    from annotation.models import Image, User
    from annotation.qualification.contract import volunteer_certify_by_admin
    from annotation.scoring.services.pool import pool_add_many
    from annotation.selectors import default_standard

    standard = default_standard()
    images = []
    for i in range(pool):
        sha = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
        img = Image(
            sha256=sha,
            original_sha256=sha,
            width=640,
            height=800,
            format="JPEG",
            size_bytes=1,
            provenance="collected",
        )
        img.file.name = f"images/{sha}.jpg"
        images.append(img)
    Image.objects.bulk_create(images, batch_size=2000)
    pool_add_many(images=images, standard=standard, target=9)  # ends with ANALYZE
    admin = User.objects.create(username="bench-admin", password="!", role="admin")
    users = User.objects.bulk_create(
        [User(username=f"bench{i}", password="!", role="volunteer") for i in range(n_raters)]
    )
    tokens = []
    for user in users:
        volunteer_certify_by_admin(user=user, admin=admin, reason="bench")
        tokens.append(Token.objects.create(user=user).key)
    return tokens


def start_gunicorn(db_url: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        DATABASE_URL=db_url,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only-secret",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_CONN_MAX_AGE="60",
    )
    cmd = [
        str(ROOT / ".venv/bin/gunicorn"),
        "humanbeauty.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "-k",
        "gthread",
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


DIMENSIONS = (
    "facial_brightness",
    "facial_feature_clarity",
    "facial_skin_tone",
    "facial_structure",
    "facial_contour_clarity",
    "facial_aesthetic",
    "outfit",
    "body_shape",
    "looks",
    "environment",
    "general_appearance",
    "overall",
)


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def rater_loop(
    port: int,
    token: str,
    stop_at: float,
    out: list[float],
    errors: list[str],
    combined: bool = False,
    think_s: float = 0.0,
) -> None:
    """One simulated rater: next image, then submit random scores.

    ``combined``: the scoring page's own flow: submit with ``"next": true`` returns the next image, so one
    pair (a submit and the next image) is one request; the first image comes from ``/next/``.
    ``think_s``: mean of an exponential pause before each submit (the time spent scoring; not part of the
    measured latency). 0 = closed loop: the next request leaves the moment the previous one returns."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    rng = random.Random(token)
    item = None

    def pause() -> None:  # never past the end of the run (it would stretch the measured elapsed time)
        time.sleep(max(0.0, min(rng.expovariate(1.0 / think_s), stop_at - time.time())))

    if think_s > 0:  # arrive at a random point of the think time (steady state, no herd at t = 0)
        pause()
    while time.time() < stop_at:
        t0 = time.perf_counter()
        try:
            if item is None or not combined:
                status, body = _post(conn, "/api/scoring/next/", b"", headers)
                if status != 200:
                    errors.append(f"next {status} {body}")
                    item = None
                    continue
                item = body["item"]
                if item is None:
                    errors.append("empty")
                    break
            if think_s > 0:  # the pause is not latency: keep only the time already spent on /next/
                spent = time.perf_counter() - t0
                pause()
                if time.time() >= stop_at:
                    break
                t0 = time.perf_counter() - spent
            scores = {k: round(rng.uniform(0.1, 0.9), 2) for k in DIMENSIONS}
            payload = {"image": item["image"], "scores": scores, "dwell_ms": 5000}
            if combined:
                payload["next"] = True
            status, body = _post(conn, "/api/scoring/ratings/", json.dumps(payload).encode(), headers)
            if status not in (200, 201):
                errors.append(f"submit {status} {str(body)[:200]}")
                item = None
                continue
            item = body["next"]["item"] if combined else None
            if combined and item is None:
                errors.append("empty")
                break
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            item = None
            continue
        out.append(time.perf_counter() - t0)
    conn.close()


def run_level(
    port: int, tokens: list[str], n: int, seconds: float, combined: bool = False, think_s: float = 0.0
) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(n)]
    errors: list[str] = []
    stop_at = time.time() + seconds
    threads = [
        threading.Thread(
            target=rater_loop, args=(port, tokens[i], stop_at, latencies[i], errors, combined, think_s)
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = sorted(x for lst in latencies for x in lst)
    mode = "submit+next in one request" if combined else "next, then submit"
    if not flat:
        return {"raters": n, "mode": mode, "pairs": 0, "errors": len(errors), "first_error": errors[:1]}
    q = np.quantile(flat, [0.5, 0.95, 0.99])
    return {
        "raters": n,
        "mode": mode,
        "think_s": think_s,
        "pairs": len(flat),
        "pairs_per_s": round(len(flat) / elapsed, 1),
        "p50_ms": round(1000 * q[0], 1),
        "p95_ms": round(1000 * q[1], 1),
        "p99_ms": round(1000 * q[2], 1),
        "mean_ms": round(1000 * statistics.fmean(flat), 1),
        "errors": len(errors),
        "first_error": errors[:1],
    }


def check_invariants() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM scoring_poolitem WHERE ratings_done > target")
        over = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM (SELECT image_id, rater_id FROM scoring_rating GROUP BY 1, 2 "
            "HAVING count(*) > 1) d"
        )
        dup = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM scoring_poolitem p WHERE ratings_done <> "
            "(SELECT count(*) FROM scoring_rating r WHERE r.pool_item_id = p.id)"
        )
        mismatch = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM scoring_rating")
        total = cur.fetchone()[0]
    return {"ratings": total, "over_target": over, "duplicates": dup, "counter_mismatch": mismatch}


def bench_reaggregate(n_images: int, k: int, n_raters: int, crowd: str = "mixed") -> dict[str, float]:
    """Load n_images x k ratings by COPY, then time the service end to end and the pure math alone.

    ``crowd``: ``mixed`` (``bench/crowd_sim.py``: 5 % noisy, 10 % biased, 5 % random clickers, 5 %
    straight-liners, uneven activity with a few drop-outs; the realistic case) or ``uniform`` (the easier
    ``bench_aggregation.make_data``: every rater equally active and honest)."""
    import hashlib

    from django.db import connection

    from annotation import aggregation
    from annotation.models import Dimension, User
    from annotation.scoring.models import Rating
    from annotation.scoring.services.aggregation import scoring_reaggregate
    from annotation.selectors import default_standard

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_aggregation import make_data
    from crowd_sim import simulate

    standard = default_standard()
    d = Dimension.objects.filter(standard=standard).count()
    if crowd == "mixed":
        sim = simulate("mixed", n_images=n_images, n_dims=d, n_raters=n_raters, k=k, seed=0)
        img, rat, scores = sim.image_index, sim.rater_index, sim.scores
    else:
        img, rat, scores = make_data(n_images, k, n_raters, d, 0)
    rater_ids = list(
        User.objects.filter(username__startswith="bench")
        .exclude(username="bench-admin")
        .order_by("id")
        .values_list("id", flat=True)
    )[:n_raters]
    t0 = time.perf_counter()
    Rating.objects.all().delete()
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM scoring_imageaggregate; DELETE FROM scoring_lease; DELETE FROM scoring_poolitem;"
        )
    shas = [hashlib.sha256(f"agg-{i}".encode()).hexdigest() for i in range(n_images)]
    now = "2026-01-01 00:00:00+00"
    with connection.cursor() as cur:
        with cur.copy(
            "COPY annotation_image (sha256, original_sha256, file, thumbnail, width, height, format, "
            "size_bytes, provenance, source, source_ref, created_at) FROM STDIN"
        ) as cp:
            for sha in shas:
                cp.write_row(
                    (sha, sha, f"images/{sha}.jpg", "", 640, 800, "JPEG", 1, "collected", "", "", now)
                )
        with cur.copy(
            "COPY scoring_poolitem (image_id, standard_id, target, ratings_done, priority, active, "
            "created_at) FROM STDIN"
        ) as cp:
            for sha in shas:
                cp.write_row((sha, standard.pk, k, k, 0.0, True, now))
        cur.execute("SELECT image_id, id FROM scoring_poolitem WHERE image_id LIKE '%%'")
        pool_ids = dict(cur.fetchall())
        with cur.copy(
            "COPY scoring_rating (pool_item_id, image_id, rater_id, standard_id, scores, comments, "
            "reported, report_reason, created_at) FROM STDIN"
        ) as cp:
            for row in range(img.size):
                sha = shas[img[row]]
                vals = [None if np.isnan(v) else float(v) for v in scores[row]]
                cp.write_row(
                    (
                        pool_ids[sha],
                        sha,
                        rater_ids[rat[row]],
                        standard.pk,
                        json.dumps(vals),
                        "{}",
                        False,
                        "",
                        now,
                    )
                )
    load_s = time.perf_counter() - t0
    t0, cpu0 = time.perf_counter(), os.times()
    run = scoring_reaggregate(standard=standard)
    service_s = time.perf_counter() - t0
    cpu1 = os.times()
    # CPU seconds of this process and of the forked worker (reaped when the pool closed), PostgreSQL not
    # included: on a shared, overloaded box the wall time mostly measures the queue for a core
    cpu_main = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    cpu_worker = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    t0 = time.perf_counter()
    run2 = scoring_reaggregate(standard=standard)  # idempotent re-run (upserts)
    rerun_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    aggregation.image_stats(img, scores, n_images)
    aggregation.sureal_ap_all(img, rat, scores, n_images, n_raters)
    aggregation.reliability_report(img, rat, scores, rng=0)
    aggregation.rater_loo_srcc_all(img, rat, scores, n_raters)
    aggregation.rater_score_spread(rat, scores, n_raters)
    pure_s = time.perf_counter() - t0
    return {
        "crowd": crowd,
        "sureal_iterations": {k: v["n_iter"] for k, v in run.screening["sureal"].items()},
        "unconverged": run.screening["unconverged"],
        "flagged_raters": len(run.screening["flagged"]),
        "load_average": round(os.getloadavg()[0], 2),
        "images": n_images,
        "ratings": int(img.size),
        "copy_load_s": round(load_s, 2),
        "service_s": round(service_s, 2),
        "service_cpu_main_s": round(cpu_main, 2),
        "service_cpu_worker_s": round(cpu_worker, 2),
        "service_rerun_s": round(rerun_s, 2),
        "pure_math_s": round(pure_s, 2),
        "run_ratings": run.n_ratings,
        "run2_ratings": run2.n_ratings,
        "stages_s": run.timings,
        "rerun_stages_s": run2.timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="18,64")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--pool", type=int, default=5000)
    parser.add_argument("--raters", type=int, default=368)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument(
        "--mode",
        choices=["one", "two", "both"],
        default="both",
        help="one: submit with next=true (the scoring page's flow); two: /next/ then /ratings/",
    )
    parser.add_argument(
        "--paced",
        default="64:1,368:5",
        help="raters:mean think time in s, comma-separated: raters that pause to score (exponential pauses)",
    )
    parser.add_argument("--paced-seconds", type=float, default=30.0)
    parser.add_argument("--skip-queue", action="store_true")
    parser.add_argument("--skip-aggregation", action="store_true")
    parser.add_argument("--crowd", choices=["mixed", "uniform"], default="mixed", help="re-aggregation data")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    paced = [(int(n), float(t)) for n, t in (x.split(":") for x in args.paced.split(",") if x)]
    name = f"hb_bench_scoring_{os.getpid()}"
    db_url = f"{PG}/{name}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    proc = None
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "-v", "0"],
            cwd=ROOT,
            check=True,
            env=dict(os.environ, DATABASE_URL=db_url),
            timeout=300,
        )
        setup_django(db_url)
        tokens = seed_queue(args.pool, max([args.raters, *levels, *(n for n, _ in paced)]))
        print(
            f"setup: migrate + seed {args.pool} pool items, {len(tokens)} raters in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        if not args.skip_queue:
            port = _free_port()
            proc = start_gunicorn(db_url, port, args.workers, args.threads)
            run_level(port, tokens, 4, 2.0)  # warm-up (imports, connections)
            for combined in {"two": [False], "one": [True], "both": [True, False]}[args.mode]:
                for n in levels:
                    result = run_level(port, tokens[:n], n, args.seconds, combined)
                    print("queue:", json.dumps(result), flush=True)
                for n, think_s in paced:
                    result = run_level(port, tokens[:n], n, args.paced_seconds, combined, think_s)
                    print("queue:", json.dumps(result), flush=True)
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
            proc = None
            print("invariants:", json.dumps(check_invariants()), flush=True)
        if not args.skip_aggregation:
            print(
                "reaggregate:",
                json.dumps(bench_reaggregate(args.images, 9, args.raters, args.crowd)),
                flush=True,
            )
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
