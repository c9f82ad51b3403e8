"""Score one image with a registered version: ArtiMuse ``eval_image``-style JSON on stdout (or --out)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from humanbeauty.errors import ApplicationError
from modeling.services import score_paths

from ._common import version_or_active


class Command(BaseCommand):
    help = "Score one image (12 dimensions, each head, final score, rating level) as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--model-version", default=None, help="version tag (default: the active one)")
        parser.add_argument("--out", default=None, help="write the JSON here instead of stdout")

    def handle(
        self, *args: object, path: str, model_version: str | None, out: str | None, **opts: object
    ) -> None:
        if not Path(path).is_file():
            raise CommandError(f"{path}: no such file")
        mv = version_or_active(model_version)
        try:
            result = score_paths(paths=[path], model_version=mv)[0]
        except (ApplicationError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        result["model_version"] = mv.version
        text = json.dumps(result, indent=2)
        if out:
            Path(out).write_text(text + "\n", encoding="utf-8")
        else:
            self.stdout.write(text)
