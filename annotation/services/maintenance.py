"""Store maintenance jobs."""

from __future__ import annotations

from ..models import Image, Job
from .images import image_thumbnail_ensure
from .jobs import job_is_cancelled, job_running, job_succeed


def images_thumbnails_rebuild(*, job_id: int) -> None:
    """(Re)create missing thumbnails. Re-runnable: only images lacking one are touched."""
    if not Job.objects.filter(pk=job_id).exists():
        return
    sha_list = list(Image.objects.order_by("sha256").values_list("sha256", flat=True))
    written = 0
    with job_running(job_id=job_id, total=len(sha_list), message="checking thumbnails") as report:
        for i, sha in enumerate(sha_list, start=1):
            if job_is_cancelled(job_id=job_id):
                return
            image = Image.objects.filter(sha256=sha).first()
            if image is not None and image_thumbnail_ensure(image=image):
                written += 1
            if i % 20 == 0 or i == len(sha_list):
                report(i, message=f"{written} thumbnails written")
    job_succeed(
        job_id=job_id,
        result={"checked": len(sha_list), "written": written},
        message=f"{written} thumbnails written",
    )
