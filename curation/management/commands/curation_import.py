"""Register a public source folder and import it: dry run by default (reads the label files only)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Job
from annotation.progress import watch_job
from curation.models import Source
from curation.services.sources import importer_for, source_import_start, source_register
from humanbeauty.errors import ApplicationError


class Command(BaseCommand):
    help = "Register a public IAA dataset folder with an importer and import it (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", required=True, help="Source key, e.g. scut_fbp5500.")
        parser.add_argument("--importer", help="Importer key (default: the source key), or 'csv'.")
        parser.add_argument("--root", help="Folder in the native layout (needed the first time).")
        parser.add_argument("--name", default="")
        parser.add_argument("--options", default="{}", help="JSON options for the generic CSV importer.")
        parser.add_argument("--execute", action="store_true", help="Register and import (default: dry run).")

    def handle(self, *args: object, **opts) -> None:
        key = opts["source"]
        existing = Source.objects.filter(key=key).first()
        importer = opts["importer"] or (existing.importer if existing else key)
        root = opts["root"] or (existing.root if existing else None)
        if root is None:
            raise CommandError("--root is required for a new source.")
        options = json.loads(opts["options"])
        try:
            loaded = importer_for(importer=importer, key=key, options=options).load(Path(root))
        except (ApplicationError, FileNotFoundError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        self.stdout.write(
            f"{key}: {loaded.read} label rows, {loaded.kept} usable, {len(loaded.skipped)} skipped"
        )
        for s in loaded.skipped[:20]:
            self.stdout.write(f"  skip {s.ref}: {s.reason}")
        if not opts["execute"]:
            self.stdout.write("Dry run: add --execute to register and import.")
            return
        try:
            source = source_register(
                key=key, importer=importer, root=str(Path(root).resolve()), name=opts["name"], options=options
            )
            job = source_import_start(source=source)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        job = watch_job(job.pk, stream=self.stderr._out)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(
                f"Job {job.pk} {job.status}: {job.error.splitlines()[0] if job.error else job.message}"
            )
        self.stdout.write(self.style.SUCCESS(f"Job {job.pk}: {job.message}"))
