from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation core (users, standards, images, jobs)"

    def ready(self) -> None:
        from .services.images import IMAGE_INGEST_JOB_KIND, image_ingest_abandoned, image_ingest_requeue
        from .services.jobs import job_kind_register

        # A big upload decoded on a worker: resumable after a lost worker (content-addressed store).
        job_kind_register(
            IMAGE_INGEST_JOB_KIND,
            resume=image_ingest_requeue,
            on_cancel=image_ingest_abandoned,
            on_fail=image_ingest_abandoned,
        )
