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

import resource  # noqa: E402

from django.db import connection, transaction  # noqa: E402

from annotation.qualification.management.commands.qualification_simulate import funnel_lines  # noqa: E402
from annotation.qualification.services.simulation import (  # noqa: E402
    SIM_BANK_SIZE,
    _sim_standard,
    qualification_simulate,
    simulation_gold_bank,
)
from annotation.selectors import default_standard_key  # noqa: E402


class _Rollback(Exception):
    pass


def _cpu() -> float:
    """CPU seconds of this process (user + system): less sensitive than wall time to other sessions' load.
    The database server's own CPU is not included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Counter:
    """Counts SQL statements (an execute wrapper: no query log kept, so no memory or timing cost)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)

    def __len__(self) -> int:
        return self.n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volunteers", type=int, default=455)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scoring-days", type=int, default=120)
    parser.add_argument("--items-per-day", type=int, default=4)
    parser.add_argument(
        "--no-vacuum",
        action="store_true",
        help="skip the VACUUM ANALYZE of the qualification tables before the run (PostgreSQL)",
    )
    args = parser.parse_args()
    if connection.vendor == "postgresql" and not args.no_vacuum:
        # Every rolled-back run leaves its rows dead in the tables; with autovacuum off (the shared dev
        # server) they pile up and the planner sees ever larger tables. Start from clean tables.
        from django.apps import apps

        tables = [m._meta.db_table for m in apps.get_app_config("qualification").get_models()]
        with connection.cursor() as cur:
            for table in tables:
                cur.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")
    print(
        f"database: {connection.vendor}, load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    result: dict = {}
    try:
        with transaction.atomic(), connection.execute_wrapper(queries := _Counter()):
            # The synthetic bank (300 images through the image service) is a fixed cost, timed apart; the
            # simulation then finds it built (same seed) exactly as a second run with --keep would.
            t0, c0 = time.perf_counter(), _cpu()
            simulation_gold_bank(
                standard=_sim_standard(default_standard_key()), seed=args.seed, n_images=SIM_BANK_SIZE
            )
            bank_wall, bank_cpu, bank_queries = time.perf_counter() - t0, _cpu() - c0, len(queries)
            t0, c0 = time.perf_counter(), _cpu()
            result = qualification_simulate(
                n_volunteers=args.volunteers,
                seed=args.seed,
                scoring_days=args.scoring_days,
                items_per_day=args.items_per_day,
            )
            sim_wall, sim_cpu, sim_queries = (
                time.perf_counter() - t0,
                _cpu() - c0,
                len(queries) - bank_queries,
            )
            raise _Rollback
    except _Rollback:
        pass
    for line in funnel_lines(result):
        print(line)
    print(
        f"gold bank ({SIM_BANK_SIZE} images): {bank_wall:.1f} s wall, {bank_cpu:.1f} s CPU, {bank_queries} SQL statements"
    )
    print(
        f"simulation of {args.volunteers} volunteers: {sim_wall:.1f} s wall, {sim_cpu:.1f} s CPU of this process, "
        f"{sim_queries} SQL statements ({sim_queries / max(args.volunteers, 1):.0f} per volunteer), "
        f"exams sat {result['attempts']}, hidden-gold answers {result['work']['hidden_gold_answers']}"
    )
    print(
        f"total {bank_wall + sim_wall:.1f} s wall, {bank_cpu + sim_cpu:.1f} s CPU; load average at end "
        f"{os.getloadavg()[0]:.2f}; target < 60 s wall for 455"
    )


if __name__ == "__main__":
    main()
