"""Build a release: dry run by default (shows what would go in), ``--execute`` runs the build job."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Job
from annotation.progress import watch_job
from curation import selectors
from curation.models import Release
from curation.services.releases import release_create, release_preview, release_verify
from humanbeauty.errors import ApplicationError


class Command(BaseCommand):
    help = "Build (or --verify) a versioned HumanBeauty release under RELEASES_ROOT."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--release", dest="release_version", required=True, help="Semantic version, e.g. 1.0.0."
        )
        parser.add_argument("--notes", default="")
        parser.add_argument(
            "--content-date", default="", help="e.g. 2026-01-01T00:00:00Z (default: from content)"
        )
        parser.add_argument(
            "--standard", default="", help="Standard key (default: the default standard), e.g. artimuse-v1."
        )
        parser.add_argument("--test-fraction", type=float, default=0.1)
        parser.add_argument("--execute", action="store_true")
        parser.add_argument(
            "--verify", action="store_true", help="Rebuild a published release and compare hashes."
        )

    def handle(self, *args: object, **opts) -> None:
        version = opts["release_version"]
        if opts["verify"]:
            release = Release.objects.filter(version=version).first()
            if release is None:
                raise CommandError(f"No release {version}.")
            self.stdout.write(str(release_verify(release=release)))
            return
        if opts["standard"]:
            try:
                preview = release_preview(standard_key=opts["standard"])
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
            self.stdout.write(
                f"{version} ({preview['standard_key']}): images per part {preview['per_part']}, "
                f"{preview['below_minimum']} below the minimum; previous {preview['from'] or 'none'}"
            )
        else:
            n50 = len(selectors.scoring_aggregates_complete())
            n58 = len(selectors.public_items_kept())
            prev = selectors.release_latest_published()
            self.stdout.write(
                f"{version}: 50K part {n50} complete aggregates, 58K part {n58} kept public images; "
                f"previous {prev.version if prev else 'none'}"
            )
        if not opts["execute"]:
            self.stdout.write("Dry run: add --execute to build.")
            return
        try:
            release = release_create(
                version=version,
                notes=opts["notes"],
                content_date=opts["content_date"],
                standard_key=opts["standard"],
                test_fraction=opts["test_fraction"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        job = watch_job(release.job_id, stream=self.stderr._out)
        release.refresh_from_db()
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(
                f"Release {version} {release.status}: {release.error.splitlines()[0] if release.error else job.message}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Published {version} at {release.path} sha256 {release.release_sha256}")
        )
