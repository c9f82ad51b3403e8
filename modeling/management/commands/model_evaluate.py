"""Evaluate a version on a release split, or zero-shot on a JSON list of {"image", "gt_score"}."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Job
from annotation.progress import watch_job
from annotation.services.jobs import job_enqueue
from humanbeauty.errors import ApplicationError
from modeling.services import model_evaluate_run, model_evaluate_start
from modeling.tasks import model_evaluate_task

from ._common import version_or_active


class Command(BaseCommand):
    help = "Evaluate a model version (metrics per head; paper_mse = RMSE, paper_mae = sqrt(MAE))."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model-version", default=None, help="version tag (default: the active one)")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--release-dir")
        group.add_argument("--records", help="JSON list of {image, gt_score} (zero-shot)")
        group.add_argument(
            "--source", help="a curation source key: its kept items, normalised scores (zero-shot)"
        )
        parser.add_argument("--split", default="test", choices=["train", "test"])
        parser.add_argument("--dataset", default="")
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--out", default=None, help="write the metrics JSON here")

    def handle(self, *args: object, **o: object) -> None:
        mv = version_or_active(o["model_version"])
        try:
            job = model_evaluate_start(
                model_version=mv,
                release_dir=o["release_dir"],
                split=o["split"],
                records_path=o["records"],
                source=o["source"],
                dataset=o["dataset"],
                limit=o["limit"],
                enqueue=False,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if settings.CELERY_TASK_ALWAYS_EAGER:  # no worker: run it here
            with contextlib.suppress(Exception):  # a failure is recorded on the Job row
                model_evaluate_run(job_id=job.pk)
            job.refresh_from_db()
        else:
            job_enqueue(job=job, task=model_evaluate_task)
            job = watch_job(job.pk, stream=self.stderr._out)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"job {job.pk} {job.status}: {job.error[:2000]}")
        text = json.dumps(job.result.get("metrics", {}), indent=2)
        if o["out"]:
            Path(str(o["out"])).write_text(text + "\n", encoding="utf-8")
        self.stdout.write(text)
