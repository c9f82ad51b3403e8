"""Overhead of the password-guessing limits (humanbeauty/security.py) on a correct sign-in.

A correct ``POST /api/auth/token/`` (Django's default PBKDF2 hasher, as deployed) is timed with the
limits on and with them replaced by no-ops, alternating (ABBA), on a scratch SQLite database; the failure counts
live in Redis (``--cache``, default a scratch db 6 on 127.0.0.1), as in the compose deployment.
Also times the limits' own cache work per sign-in (one get_many + one delete).

    .venv/bin/python bench/bench_login_throttle.py [--rounds 30] [--cache redis://127.0.0.1:6379/6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cache", default="redis://127.0.0.1:6379/6")
    args = parser.parse_args()
    os.environ["DJANGO_CACHE_URL"] = args.cache
    from _scratch import setup_django

    work = Path(tempfile.mkdtemp(prefix="hb-bench-login-"))
    setup_django(work, sqlite=True, db_name="")
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from annotation import apis
    from annotation.models import User
    from humanbeauty import security

    User.objects.create_user(username="bench", password="a-correct-horse-battery", role="researcher")
    client = APIClient()
    body = {"username": "bench", "password": "a-correct-horse-battery"}
    real = (apis.login_refusal, apis.login_failed, apis.login_succeeded)
    off = (lambda **kw: None, lambda **kw: None, lambda **kw: None)

    def timed(hooks: tuple) -> float:
        apis.login_refusal, apis.login_failed, apis.login_succeeded = hooks
        started = time.perf_counter()
        response = client.post("/api/auth/token/", body, format="json", REMOTE_ADDR="10.0.0.1")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content
        return elapsed

    timed(real), timed(off)  # warm-up
    with_limits, without = [], []
    for round_no in range(args.rounds):  # ABBA order: neither variant always runs first
        if round_no % 2:
            without.append(timed(off))
            with_limits.append(timed(real))
        else:
            with_limits.append(timed(real))
            without.append(timed(off))
    apis.login_refusal, apis.login_failed, apis.login_succeeded = real
    guard = []
    for _ in range(2000):
        started = time.perf_counter()
        security.login_refusal(username="bench", ip="10.0.0.1")
        security.login_succeeded(username="bench")
        guard.append(time.perf_counter() - started)
    cache.clear()

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.2f} ms (p90 {statistics.quantiles(values, n=10)[-1] * 1000:.2f})"

    print(f"cache: {args.cache}  rounds: {args.rounds}")
    print(f"correct sign-in, limits on : {ms(with_limits)}")
    print(f"correct sign-in, limits off: {ms(without)}")
    diff = statistics.median(with_limits) - statistics.median(without)
    print(f"difference of medians: {diff * 1000:+.2f} ms ({diff / statistics.median(without) * 100:+.1f} %)")
    print(f"the limits' own cache work per sign-in: {ms(guard)}")


if __name__ == "__main__":
    main()
