"""Import the authors' HumanAesExpert checkpoint (InternVL2 chat layout) as a model version. Dry run unless
--execute."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from humanbeauty.errors import ApplicationError
from modeling.services import model_version_activate, model_version_import_upstream


class Command(BaseCommand):
    help = (
        "Import an upstream HumanAesExpert-1B/8B checkpoint directory (InternVL2 chat layout, safetensors) "
        "into MODELS_ROOT/imported/<version> and register it. Without --execute, only checks that every "
        "tensor maps. See docs/modeling.md, 'Importing the authors' checkpoints'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="the upstream checkpoint directory (local)")
        parser.add_argument("--model-version", required=True, help="tag of the new version")
        parser.add_argument(
            "--mapping",
            default=None,
            help="head/MetaVoter mapping file (default: modeling/upstream_mapping.json)",
        )
        parser.add_argument(
            "--tokenizer", default=None, help="a native tokenizer directory to use instead of the source's"
        )
        parser.add_argument(
            "--trust-remote-code",
            action="store_true",
            help="allow running the Python files of the source directory to read its tokenizer (off by default)",
        )
        parser.add_argument(
            "--activate", action="store_true", help="make the imported version the active one"
        )
        parser.add_argument("--execute", action="store_true", help="do it (default: check only)")

    def handle(self, *args: object, **opts: object) -> None:
        try:
            mv, report = model_version_import_upstream(
                version=str(opts["model_version"]),
                source_dir=str(opts["source"]),
                mapping_path=opts["mapping"],
                tokenizer_dir=opts["tokenizer"],
                trust_remote_code=bool(opts["trust_remote_code"]),
                dry_run=not opts["execute"],
            )
            if mv is not None and opts["activate"]:
                mv = model_version_activate(model_version=mv)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(report, indent=2))
        if mv is None:
            self.stdout.write("every tensor maps; run with --execute to import")
        else:
            self.stdout.write(
                f"imported: {mv.version} ({mv.checkpoint_path}){' active' if mv.is_active else ''}"
            )
