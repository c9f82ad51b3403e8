"""Run the qualification protocol with a simulated population through the real services; print the funnel.

Rolled back by default (the database is left as it was); ``--keep`` keeps the simulated volunteers.
"""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand

from ...services.simulation import qualification_simulate, qualification_simulate_dry


class Command(BaseCommand):
    help = "Simulate N volunteers (annotation/simulation.py) through invite → training → exam → retake."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--volunteers", type=int, default=455)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--keep", action="store_true", help="keep the simulated data (default: roll back)"
        )
        parser.add_argument("--json", action="store_true", help="print the whole result as JSON")

    def handle(self, *args: object, **options: object) -> None:
        started = time.monotonic()
        run = qualification_simulate if options["keep"] else qualification_simulate_dry
        result = run(n_volunteers=int(options["volunteers"]), seed=int(options["seed"]))
        elapsed = time.monotonic() - started
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
            return
        f = result["funnel"]
        self.stdout.write(f"invited {result['invited']} → joined {f['joined']}")
        for r in f["rounds"]:
            self.stdout.write(f"round {r['number']}: entered {r['entered']}, passed {r['passed']}")
        self.stdout.write(f"certified {f['certified']}, exited {f['exited']}")
        self.stdout.write(
            f"passed on attempt: {result['passed_by_attempt']}; exams sat: {result['attempts']}"
        )
        for kind, c in result["by_kind"].items():
            self.stdout.write(f"  {kind:15s} {c['certified']:4d} / {c['entered']:4d} certified")
        self.stdout.write(
            f"({elapsed:.1f} s, seed {result['seed']}, {'kept' if options['keep'] else 'rolled back'})"
        )
