"""Pre-score the open pool items that lack a prediction by the active version (what the beat runs)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from modeling.services import prescore_pending


class Command(BaseCommand):
    help = "Pre-score pending pool images with the active model version, now, in this process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=None)

    def handle(self, *args: object, limit: int | None, **opts: object) -> None:
        self.stdout.write(json.dumps(prescore_pending(limit=limit)))
