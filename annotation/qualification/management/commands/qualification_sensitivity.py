"""Sensitivity of the certified count to the protocol's thresholds, rounds and attempts (pure simulation on
the documented population; nothing is written)."""

from __future__ import annotations

import itertools
import time

from django.core.management.base import BaseCommand, CommandError

from annotation.exam_scoring import PassRule
from annotation.simulation import ProtocolParams, default_population, simulate_protocol, synthetic_gold_bank

from ...services.simulation import SIM_BANK_SIZE


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise CommandError(f"Not a comma-separated list of numbers: {text!r}") from exc


class Command(BaseCommand):
    help = (
        "Print a table: MAE limit x rounds x attempts -> qualified and certified (after the scoring period)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--volunteers", type=int, default=455)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-mae", default="0.15,0.17,0.19", dest="max_mae")
        parser.add_argument("--min-srcc", default="0.6", dest="min_srcc")
        parser.add_argument("--rounds", default="1,3")
        parser.add_argument("--attempts", default="1,2")
        parser.add_argument(
            "--scoring-days", type=int, default=0, dest="scoring_days",
            help="simulated formal work after the rounds (0: qualification only, the fast default)",
        )  # fmt: skip

    def handle(self, *args: object, **options: object) -> None:
        population = default_population(n=int(options["volunteers"]), seed=int(options["seed"]))
        bank = synthetic_gold_bank(n_images=SIM_BANK_SIZE, seed=int(options["seed"]))
        grid = itertools.product(
            _floats(str(options["max_mae"])),
            _floats(str(options["min_srcc"])),
            [int(x) for x in _floats(str(options["rounds"]))],
            [int(x) for x in _floats(str(options["attempts"]))],
        )
        self.stdout.write("max_mae  min_srcc  rounds  attempts  qualified  certified  retraining items")
        for max_mae, min_srcc, rounds, attempts in grid:
            started = time.monotonic()
            params = ProtocolParams(
                rule=PassRule(max_mae=max_mae, min_mean_srcc=min_srcc),
                n_iterations=rounds,
                max_attempts=attempts,
                scoring_days=int(options["scoring_days"]),
            )
            r = simulate_protocol(population, bank, params, seed=int(options["seed"]))
            self.stdout.write(
                f"{max_mae:7.2f}  {min_srcc:8.2f}  {rounds:6d}  {attempts:8d}  {r['qualified']:9d}  "
                f"{r['certified']:9d}  {r['retraining']['items']:16d}   ({time.monotonic() - started:.1f} s)"
            )
