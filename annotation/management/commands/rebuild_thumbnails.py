"""Start the thumbnail-rebuild job and follow it with a progress bar (dry run lists what is missing)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from annotation.models import Image
from annotation.progress import watch_job
from annotation.services.jobs import job_create, job_enqueue
from annotation.tasks import images_thumbnails_rebuild_task


class Command(BaseCommand):
    help = "Re-create missing thumbnails as a job (runs on a worker when a broker is configured)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--execute", action="store_true", help="Run it (default: dry run).")

    def handle(self, *args: object, execute: bool, **options: object) -> None:
        missing = Image.objects.filter(thumbnail="").count()
        if not execute:
            self.stdout.write(
                f"{missing} images lack a thumbnail row; run with --execute to check and rebuild all."
            )
            return
        job = job_create(kind="thumbnails")
        job_enqueue(job=job, task=images_thumbnails_rebuild_task)
        job = watch_job(job.pk, stream=self.stderr._out)
        self.stdout.write(f"job {job.pk}: {job.status} {job.result}")
