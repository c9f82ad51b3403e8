"""Load (idempotently) the demo data of every app, in dependency order."""

from __future__ import annotations

import importlib

from django.core.management.base import BaseCommand

from annotation.demo import DEMO_PASSWORD, demo_load_core

# Each app extends the demo through ``<app>.demo.demo_load() -> dict`` (idempotent), run in this order.
DEMO_MODULES = ("annotation.qualification", "annotation.scoring", "curation", "modeling")


class Command(BaseCommand):
    help = "Create demo users, standards, images and every app's demo state. Safe to run again."

    def handle(self, *args: object, **options: object) -> None:
        steps = [("core", demo_load_core)]
        for module in DEMO_MODULES:
            try:
                demo = importlib.import_module(f"{module}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{module}.demo":
                    raise
                continue
            steps.append((module, demo.demo_load))
        for label, step in steps:
            result = step()
            self.stdout.write(f"demo {label}: {result}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready. Sign in as admin / researcher / volunteer1..18 (ArtiMuse raters: artimuse1..3) "
                f"with password {DEMO_PASSWORD!r}."
            )
        )
