from django.contrib import admin

from .models import Evaluation, ModelVersion, Prediction


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "version",
        "name",
        "status",
        "is_active",
        "release_version",
        "code_revision",
        "created_at",
    )
    list_filter = ("status", "is_active")
    search_fields = ("version", "release_version")
    # Activation goes through modeling.services.model_version_activate (one active version, pre-scoring).
    readonly_fields = ("is_active", "activated_at", "job", "created_by")


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ("model_version", "dataset", "n", "created_at")
    list_select_related = ("model_version",)


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ("image", "model_version", "score", "rating_level", "heads_disagreement", "created_at")
    list_filter = ("model_version",)
    list_select_related = ("model_version",)
    raw_id_fields = ("image",)
