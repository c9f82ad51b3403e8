"""Import an expert gold bank (CSV or JSON) plus its image files. Dry run unless --apply."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.models import Standard
from annotation.selectors import default_standard_key
from humanbeauty.errors import ApplicationError

from ...services.gold import gold_bank_import, gold_rows_from_csv, gold_rows_from_json


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = "Import a gold bank: rows from CSV/JSON (see docs/qualification.md), images from --images DIR."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bank", help="CSV or JSON file with the expert scores")
        parser.add_argument(
            "--images", default=".", help="directory holding the image files named in the bank"
        )
        parser.add_argument("--standard", default=None, help="Standard key (default: HB_DEFAULT_STANDARD).")
        parser.add_argument("--apply", action="store_true", help="write (default: dry run, rolled back)")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["bank"]))
        text = path.read_text(encoding="utf-8-sig")
        rows = (
            gold_rows_from_json(text=text)
            if path.suffix.lower() == ".json"
            else gold_rows_from_csv(text=text)
        )
        folder = Path(str(options["images"]))
        files = {
            row["image"]: (folder / row["image"]).read_bytes()
            for row in rows
            if row.get("image") and (folder / row["image"]).is_file()
        }
        standard = Standard.objects.filter(key=options["standard"] or default_standard_key()).first()
        if standard is None:
            raise CommandError(f"No standard {options['standard'] or default_standard_key()!r}.")
        try:
            with transaction.atomic():
                result = gold_bank_import(standard=standard, rows=rows, files=files)
                if not options["apply"]:
                    raise _DryRun
        except _DryRun:
            self.stdout.write(f"dry run (nothing written; pass --apply): {result}")
            return
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"imported: {result}"))
