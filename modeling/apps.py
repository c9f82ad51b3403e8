from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "modeling"
    verbose_name = "Modeling (HumanAesExpert registry and pre-scoring)"

    def ready(self) -> None:
        from annotation.services.jobs import job_kind_register

        from .services import training

        # Resumable from its last checkpoint (resume API/command/page, jobs watchdog).
        job_kind_register(
            "modeling.train",
            resume=training.model_train_requeue,
            on_cancel=training.model_train_stopped,
            on_fail=training.model_train_stopped,
        )
