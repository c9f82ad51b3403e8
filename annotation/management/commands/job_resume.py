"""Resume a chunked job (filtering, release build, training, import) after a lost worker, a failure or a
cancel: only what is still missing is done (training continues from its last checkpoint)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Job
from annotation.progress import watch_job
from annotation.services.jobs import job_resume
from humanbeauty.errors import ApplicationError


class Command(BaseCommand):
    help = "Queue a chunked job again; --watch follows it with a progress bar."

    def add_arguments(self, parser) -> None:
        parser.add_argument("job_id", type=int)
        parser.add_argument("--force", action="store_true", help="even if its heartbeat is fresh")
        parser.add_argument("--watch", action="store_true")

    def handle(self, *args: object, job_id: int, force: bool, watch: bool, **options: object) -> None:
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            raise CommandError(f"No job {job_id}.")
        try:
            job = job_resume(job=job, force=force)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Job {job.pk} ({job.kind}) queued again.")
        if watch:
            job = watch_job(job.pk, stream=self.stderr._out)
            self.stdout.write(f"Job {job.pk} {job.status}.")
