"""Re-aggregate a standard's ratings (MOS/CI, SUREAL, screening, reliability). Dry run by default."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from annotation.models import Standard
from annotation.scoring.models import Rating
from annotation.scoring.services.aggregation import scoring_reaggregate
from annotation.selectors import default_standard_key


class Command(BaseCommand):
    help = "Recompute per-image aggregates, rater quality and the reliability report (use --apply to write)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--standard", default=None, help="Standard key (default: HB_DEFAULT_STANDARD).")
        parser.add_argument("--apply", action="store_true", help="write the results (default: dry run)")

    def handle(self, *args: object, **options: object) -> None:
        standard = Standard.objects.get(key=options["standard"] or default_standard_key())
        n = Rating.objects.filter(standard=standard).count()
        if not options["apply"]:
            self.stdout.write(f"dry run: would re-aggregate {n} ratings of {standard.key} (use --apply)")
            return
        run = scoring_reaggregate(standard=standard)
        self.stdout.write(
            self.style.SUCCESS(
                f"run #{run.pk}: {run.n_ratings} ratings, {run.n_images} images, {run.n_raters} raters in {run.seconds} s"
            )
        )
