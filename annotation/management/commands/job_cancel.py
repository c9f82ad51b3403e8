"""Cancel a job: its chunks and bodies stop at their next progress report."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Job
from annotation.services.jobs import job_cancel
from humanbeauty.errors import ApplicationError


class Command(BaseCommand):
    help = "Cancel a pending or running job (resume it later with job_resume)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("job_id", type=int)

    def handle(self, *args: object, job_id: int, **options: object) -> None:
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            raise CommandError(f"No job {job_id}.")
        try:
            job = job_cancel(job=job)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Job {job.pk} ({job.kind}) cancelled.")
