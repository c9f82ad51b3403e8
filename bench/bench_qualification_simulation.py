"""Benchmark: the qualification simulation through the real services on PostgreSQL.

Runs ``qualification_simulate`` (rolled back) for ``--volunteers`` simulated people: the whole protocol
(three rounds of training → exam → retraining → retake, then ``--scoring-days`` of formal work with hidden
gold, drift and the daily re-certification tick) and prints the wall time per stage, the number of SQL
statements and the funnel lines. Target: 455 volunteers in < 60 s on the 2-core machine. Run:
``DATABASE_URL=postgres://… .venv/bin/python bench/bench_qualification_simulation.py --volunteers 455``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humanbeauty.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from annotation.qualification.management.commands.qualification_simulate import funnel_lines  # noqa: E402
from annotation.qualification.services.simulation import qualification_simulate_dry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volunteers", type=int, default=455)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scoring-days", type=int, default=120)
    parser.add_argument("--items-per-day", type=int, default=4)
    args = parser.parse_args()
    print(f"database: {connection.vendor}, load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        result = qualification_simulate_dry(
            n_volunteers=args.volunteers,
            seed=args.seed,
            scoring_days=args.scoring_days,
            items_per_day=args.items_per_day,
        )
    elapsed = time.perf_counter() - started
    for line in funnel_lines(result):
        print(line)
    print(
        f"{args.volunteers} volunteers: {elapsed:.1f} s wall, {len(queries)} SQL statements "
        f"({len(queries) / max(args.volunteers, 1):.0f} per volunteer), exams sat {result['attempts']}; "
        f"target < 60 s for 455"
    )


if __name__ == "__main__":
    main()
