"""RetinaFace filter over a public source: dry run by default, ``--execute`` runs the job with a bar."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Job
from annotation.progress import watch_job
from curation.models import Source, SourceItem
from curation.services.filtering import DEFAULT_CHUNK_SIZE, filter_params, filter_pending_ids, filter_start
from humanbeauty.errors import ApplicationError


class Command(BaseCommand):
    help = "Filter a source's images to single-face images (only images without a result are processed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", action="append", required=True, help="Source key (repeatable).")
        parser.add_argument("--confidence", type=float, default=0.9)
        parser.add_argument("--min-face-size", type=float, default=32.0, dest="min_face_size_px")
        parser.add_argument(
            "--face-mode", choices=["platform", "paper"], default="platform", dest="face_mode",
            help="paper: any second face above the confidence threshold rejects the image, whatever its size",
        )  # fmt: skip
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
        parser.add_argument("--execute", action="store_true", help="Run the job (default: dry run).")

    def handle(self, *args: object, **opts) -> None:
        keys = sorted(set(opts["source"]))
        missing = set(keys) - set(Source.objects.filter(key__in=keys).values_list("key", flat=True))
        if missing:
            raise CommandError(f"Unknown source(s): {', '.join(sorted(missing))}")
        try:
            params = filter_params(
                confidence=opts["confidence"],
                min_face_size_px=opts["min_face_size_px"],
                face_mode=opts["face_mode"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        pending = filter_pending_ids(source_keys=keys, detector_version=params["detector_version"])
        items = SourceItem.objects.filter(source__key__in=keys).values("image_id").distinct().count()
        self.stdout.write(
            f"{', '.join(keys)}: {items} images, {len(pending)} without a result for "
            f"{params['detector_version']} (chunks of {opts['chunk_size']})"
        )
        if not opts["execute"]:
            self.stdout.write("Dry run: add --execute to run the filter job.")
            return
        try:
            job = filter_start(
                source_keys=keys,
                confidence=opts["confidence"],
                min_face_size_px=opts["min_face_size_px"],
                face_mode=opts["face_mode"],
                chunk_size=opts["chunk_size"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Job {job.pk} queued.")
        job = watch_job(job.pk, stream=self.stderr._out)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(
                f"Job {job.pk} {job.status}: {job.error.splitlines()[0] if job.error else job.message}"
            )
        r = job.result
        self.stdout.write(
            self.style.SUCCESS(
                f"Job {job.pk}: {r['images']} images, kept {r['kept']}, rejected {r['rejected']}, "
                f"unreadable {r['errors']}"
            )
        )
