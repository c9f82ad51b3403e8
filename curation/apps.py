from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Curation (public sources, face filtering, releases)"

    def ready(self) -> None:
        from annotation.services.jobs import job_kind_register

        from .services import filtering, releases, sources

        # Resumable after a lost worker, a failure or a cancel (resume API/command/page, jobs watchdog).
        job_kind_register(filtering.JOB_KIND, resume=filtering.filter_requeue)
        job_kind_register(sources.JOB_KIND, resume=sources.source_import_requeue)
        job_kind_register(
            releases.JOB_KIND,
            resume=releases.release_build_requeue,
            on_cancel=releases.release_build_cancelled,
            on_fail=releases.release_build_lost,
        )
