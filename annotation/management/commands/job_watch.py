"""Show a job's progress in the terminal (the same numbers the API and the Jobs page show)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Job
from annotation.progress import watch_job


class Command(BaseCommand):
    help = "Follow a job with a progress bar until it finishes."

    def add_arguments(self, parser) -> None:
        parser.add_argument("job_id", type=int)
        parser.add_argument("--interval", type=float, default=0.5)

    def handle(self, *args: object, job_id: int, interval: float, **options: object) -> None:
        if not Job.objects.filter(pk=job_id).exists():
            raise CommandError(f"No job {job_id}.")
        job = watch_job(job_id, interval=interval, stream=self.stderr._out)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(
                f"Job {job_id} {job.status}: {job.error.splitlines()[0] if job.error else job.message}"
            )
        self.stdout.write(self.style.SUCCESS(f"Job {job_id} succeeded: {job.result}"))
