"""Run the qualification protocol with a simulated population through the real services; print the funnel.

Rolled back by default (the database is left as it was); ``--keep`` keeps the simulated volunteers.
Output keeps one line per round (``round N: entered …, passed …``), a line naming the retraining delivered
and ``certified N, exited M``, so results compare across versions.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand

from ...services.simulation import qualification_simulate, qualification_simulate_dry


def funnel_lines(result: dict[str, Any]) -> list[str]:
    """The comparable summary of a simulation result (services or pure)."""
    lines = [f"invited {result['invited']}" + (f" → joined {result['joined']}" if "joined" in result else "")]
    lines.extend(
        f"round {r['round']}: entered {r['entered']}, passed {r['passed']} (by attempt {r['passed_by_attempt']})"
        for r in result["rounds"]
    )
    t = result["retraining"]
    lines.append(
        f"retraining delivered: {t['items']} targeted items to {t['volunteers']} volunteers "
        f"({t['qualification_items']} in the rounds, {t['items'] - t['qualification_items']} in re-qualification); "
        f"{t['feedback_items']} feedback items in all"
    )
    w = result["work"]
    lines.append(
        f"scoring period: {w['hidden_gold_answers']} hidden-gold answers, {w['suspended_hidden_gold']} suspended "
        f"by hidden gold, {w['recertifications']} periodic re-checks, {w['requalified']} re-qualified; "
        f"drifting raters {w['drifting']} (caught by hidden gold {w['drifting_caught']}, re-checked "
        f"{w['drifting_rechecked']}, exited {w['drifting_exited']})"
    )
    lines.append(f"qualified {result['qualified']} after the rounds")
    lines.append(f"certified {result['certified']}, exited {result['exited']}")
    causes = ", ".join(f"{k} {v}" for k, v in sorted(result["exits_by_cause"].items()))
    lines.append(f"exits by cause: {causes or 'none'}")
    for kind, c in result["by_kind"].items():
        lines.append(
            f"  {kind:15s} {c['certified']:4d} / {c['entered']:4d} certified ({c['qualified']} qualified)"
        )
    return lines


class Command(BaseCommand):
    help = (
        "Simulate N volunteers through the whole protocol (rounds, retraining, retakes, formal work with hidden "
        "gold and re-certification) using the real services."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--volunteers", type=int, default=455)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--scoring-days", type=int, default=120, dest="scoring_days")
        parser.add_argument("--items-per-day", type=int, default=4, dest="items_per_day")
        parser.add_argument(
            "--keep", action="store_true", help="keep the simulated data (default: roll back)"
        )
        parser.add_argument("--json", action="store_true", help="print the whole result as JSON")

    def handle(self, *args: object, **options: object) -> None:
        started = time.monotonic()
        run = qualification_simulate if options["keep"] else qualification_simulate_dry
        result = run(
            n_volunteers=int(options["volunteers"]),
            seed=int(options["seed"]),
            scoring_days=int(options["scoring_days"]),
            items_per_day=int(options["items_per_day"]),
        )
        elapsed = time.monotonic() - started
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
            return
        for line in funnel_lines(result):
            self.stdout.write(line)
        self.stdout.write(
            f"exams sat: {result['attempts']} ({elapsed:.1f} s, seed {result['seed']}, "
            f"{'kept' if options['keep'] else 'rolled back'})"
        )
