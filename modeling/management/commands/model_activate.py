"""Make a version the active one (and queue pre-scoring with it). Dry run unless --execute."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from humanbeauty.errors import ApplicationError
from modeling.services import model_version_activate

from ._common import version_or_active


class Command(BaseCommand):
    help = "Activate a model version (exactly one is active); pre-scoring of the pool follows."

    def add_arguments(self, parser) -> None:
        parser.add_argument("version")
        parser.add_argument("--execute", action="store_true", help="do it (default: dry run)")
        parser.add_argument("--no-prescore", action="store_true")

    def handle(self, *args: object, version: str, execute: bool, no_prescore: bool, **opts: object) -> None:
        mv = version_or_active(version)
        if not execute:
            self.stdout.write(f"would activate {mv.version} ({mv.status}); run with --execute")
            return
        try:
            mv = model_version_activate(model_version=mv, prescore=not no_prescore)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"active: {mv.version}")
