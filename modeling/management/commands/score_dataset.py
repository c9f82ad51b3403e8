"""Score a directory of images or an ArtiMuse-style JSON list (``[{"image": ...}, ...]`` or paths): writes
the ``eval_dataset`` list ``[{"image", "score", ...}]`` to ``--out``."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from humanbeauty.errors import ApplicationError
from modeling.services import score_paths

from ._common import version_or_active


class Command(BaseCommand):
    help = "Score a directory or a JSON list of images; write ArtiMuse eval_dataset-style JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="a directory (recursive) or a JSON list")
        parser.add_argument("--out", required=True)
        parser.add_argument("--model-version", default=None, help="version tag (default: the active one)")

    def handle(self, *args: object, source: str, out: str, model_version: str | None, **opts: object) -> None:
        from modeling.scorer import list_images

        if not Path(source).exists():
            raise CommandError(f"{source}: no such file or directory")
        try:
            paths = list_images(source)
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"{source}: not a directory or a JSON list of images ({exc})") from exc
        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            raise CommandError(f"{len(missing)} images not found, e.g. {missing[0]}")
        mv = version_or_active(model_version)
        try:
            results = score_paths(paths=paths, model_version=mv) if paths else []
        except (ApplicationError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        Path(out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        self.stdout.write(json.dumps({"model_version": mv.version, "images": len(results), "out": out}))
