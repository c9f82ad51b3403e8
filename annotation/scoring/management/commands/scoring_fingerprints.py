"""Compute missing perceptual hashes of library images (near-duplicate check). Dry run by default."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from annotation.models import Image
from annotation.scoring.models import ImageFingerprint
from annotation.scoring.services.collection import image_fingerprint_ensure


class Command(BaseCommand):
    help = "Store the pHash of every library image that lacks one (use --apply to write)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        missing = Image.objects.exclude(pk__in=ImageFingerprint.objects.values("image_id"))
        if not options["apply"]:
            self.stdout.write(f"dry run: {missing.count()} images lack a fingerprint (use --apply)")
            return
        done = failed = 0
        for image in missing.iterator():
            try:
                image_fingerprint_ensure(image=image)
                done += 1
            except Exception as exc:
                failed += 1
                self.stderr.write(f"{image.sha256[:12]}: {exc}")
        self.stdout.write(self.style.SUCCESS(f"{done} fingerprints stored, {failed} failed"))
