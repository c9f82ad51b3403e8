"""Train a HumanAesExpert version on a release (both stages), evaluate it, register it; with a progress bar.

With a broker the job runs on a ``gpu`` worker and this command follows it. Without one (eager Celery) the
job runs here, in a thread, while the main thread draws the same progress bar from the Job row.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from annotation.models import Job
from annotation.progress import watch_job
from annotation.services.jobs import job_enqueue
from humanbeauty.errors import ApplicationError
from modeling.services import model_train_run, model_train_start
from modeling.tasks import model_train_task


class Command(BaseCommand):
    help = "Train both stages on a release, evaluate on its test split, register (and optionally activate)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--release-dir", required=True, help="release dir (or its HumanAesExpert/ folder)"
        )
        parser.add_argument("--backbone", required=True, help="local backbone directory (InternVL-hf)")
        parser.add_argument(
            "--model-version", dest="tag", default=None, help="version tag (default: v-<UTC time>)"
        )
        parser.add_argument("--max-steps", type=int, default=None)
        parser.add_argument(
            "--config", default=None, help="HumanAesExpertConfig overrides: JSON text or file"
        )
        parser.add_argument("--no-stage-two", action="store_true")
        parser.add_argument(
            "--activate", action="store_true", help="activate when ready (pre-scoring follows)"
        )

    def handle(self, *args: object, **o: object) -> None:
        config = None
        if o["config"]:
            text = str(o["config"])
            try:
                config = json.loads(
                    text if text.lstrip().startswith("{") else Path(text).read_text(encoding="utf-8")
                )
            except (OSError, json.JSONDecodeError) as exc:
                raise CommandError(f"--config: {exc}") from exc
        tag = o["tag"] or timezone.now().strftime("v-%Y%m%d-%H%M%S")
        try:
            job = model_train_start(
                version=str(tag),
                release_dir=str(o["release_dir"]),
                backbone_path=str(o["backbone"]),
                config=config,
                max_steps=o["max_steps"],
                stage_two=not o["no_stage_two"],
                activate=bool(o["activate"]),
                enqueue=False,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # No worker: run the job here; a thread draws the progress bar from the Job row meanwhile.
            stop = threading.Event()
            watcher = threading.Thread(target=self._watch, args=(job.pk, stop), daemon=True)
            watcher.start()
            try:
                with contextlib.suppress(Exception):  # a failure is recorded on the Job row
                    model_train_run(job_id=job.pk)
            finally:
                stop.set()
                watcher.join(timeout=5)
            job.refresh_from_db()
        else:
            job_enqueue(job=job, task=model_train_task)
            job = watch_job(job.pk, stream=self.stderr._out)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"job {job.pk} {job.status}: {job.error[:3000]}")
        self.stdout.write(json.dumps(job.result, indent=2))

    def _watch(self, job_id: int, stop: threading.Event) -> None:
        from tqdm import tqdm

        bar = tqdm(total=None, file=self.stderr._out, unit="step", dynamic_ncols=True)
        try:
            while not stop.wait(0.5):
                job = Job.objects.filter(pk=job_id).first()
                if job is None:  # not visible from this connection (e.g. inside a test transaction)
                    continue
                bar.total = job.total
                bar.n = job.done
                bar.set_description_str(f"{job.kind}#{job.pk} {job.status}")
                bar.set_postfix_str(job.message[:60])
                bar.refresh()
        finally:
            bar.set_description_str(f"modeling.train#{job_id} finished")
            bar.close()
            connection.close()
