"""Terminal progress for jobs: management commands poll the same Job row the API serves."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from .models import Job


def watch_job(job_id: int, *, interval: float = 0.5, stream: TextIO | None = None) -> Job:
    """Poll ``job_id`` and draw a tqdm bar until the job finishes; return the final row."""
    bar = tqdm(total=None, file=stream or sys.stderr, unit="item", dynamic_ncols=True)
    try:
        while True:
            job = Job.objects.get(pk=job_id)
            if job.total is not None and bar.total != job.total:
                bar.total = job.total
            bar.n = job.done
            bar.set_description_str(f"{job.kind}#{job.pk} {job.status}")
            bar.set_postfix_str(job.message[:60])
            bar.refresh()
            if job.is_finished:
                return job
            time.sleep(interval)
    finally:
        bar.close()
