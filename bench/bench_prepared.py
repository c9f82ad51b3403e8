"""Prepared statements on PostgreSQL: the token look-up (``humanbeauty/authentication.py``, the statement
every API call runs) through ``prepared_cursor()`` with psycopg's ``prepare_threshold`` as settings set it
(prepared once per connection) and with it at None (Django's default: nothing prepared, the statement is
parsed and planned on every call). Prints both and what ``pg_prepared_statements`` holds.

    .venv/bin/python bench/bench_prepared.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DB = "hb_bench_prepared"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    from _scratch import drop_pg, setup_django

    setup_django(Path(tempfile.mkdtemp(prefix="hb-bench-prep-")), sqlite=False, db_name=DB)
    try:
        from django.db import connection
        from rest_framework.authtoken.models import Token

        from annotation.models import User
        from humanbeauty.authentication import TokenAuthentication

        key = Token.objects.create(user=User.objects.create_user(username="bench", role="researcher")).key
        auth = TokenAuthentication()

        def run(threshold: int | None) -> tuple[list[float], int]:
            connection.close()
            connection.ensure_connection()
            connection.connection.prepare_threshold = threshold
            times = []
            for _ in range(args.calls):
                started = time.perf_counter()
                auth.authenticate_credentials(key)
                times.append(time.perf_counter() - started)
            with connection.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_prepared_statements")
                prepared = cur.fetchone()[0]
            return times, prepared

        settings_threshold = connection.settings_dict["OPTIONS"].get("prepare_threshold")
        results = {}
        for label, threshold in (("unprepared (threshold None)", None), ("prepared", settings_threshold)) * 2:
            results.setdefault(label, []).append(run(threshold))
        for label, runs in results.items():
            times = [t for ts, _ in runs for t in ts]
            print(
                f"{label:<28} median {statistics.median(times) * 1e6:7.1f} µs  "
                f"p90 {statistics.quantiles(times, n=10)[-1] * 1e6:7.1f} µs  "
                f"pg_prepared_statements: {runs[-1][1]}"
            )
    finally:
        drop_pg(DB)


if __name__ == "__main__":
    main()
