"""Reads of the modeling app: model versions, predictions, and the pool items waiting for a pre-score."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet

from annotation.models import Image, Standard
from annotation.selectors import default_standard_key

from .models import Evaluation, ModelVersion, Prediction


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("created_by", "job").order_by("-created_at", "-id")


def model_version_get(*, version_id: int) -> ModelVersion | None:
    return model_version_list().filter(pk=version_id).first()


def model_version_by_tag(*, version: str) -> ModelVersion | None:
    return model_version_list().filter(version=version).first()


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def evaluation_list(*, model_version: ModelVersion) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(model_version=model_version).order_by("-created_at", "-id")


def prediction_get(*, image: Image, model_version: ModelVersion) -> Prediction | None:
    return Prediction.objects.filter(image=image, model_version=model_version).first()


def prediction_list(*, model_version: ModelVersion) -> QuerySet[Prediction]:
    return Prediction.objects.filter(model_version=model_version).select_related("image")


def prediction_standard(model_version: ModelVersion) -> Standard:
    """The standard a version's dimensions belong to: ``config["standard_key"]`` when the version names one,
    else the standard its model config was built for (``config["standard"]["key"]``), else the platform's
    default standard (versions registered before models carried their standard)."""
    config = model_version.config or {}
    built_for = config.get("standard") if isinstance(config.get("standard"), dict) else {}
    key = config.get("standard_key") or built_for.get("key") or default_standard_key()
    return Standard.objects.get(key=key)


def prediction_for(*, image_sha256: str, version: str | None = None) -> Prediction | None:
    """The prediction of one image by the version tagged ``version`` (default: the active one)."""
    qs = Prediction.objects.select_related("model_version", "standard").filter(image_id=image_sha256)
    qs = qs.filter(model_version__version=version) if version else qs.filter(model_version__is_active=True)
    return qs.first()


def prescore_pending_items(*, model_version: ModelVersion) -> QuerySet[Any]:
    """Open, active pool items whose image has no prediction by ``model_version``, oldest first."""
    from annotation.scoring.models import PoolItem

    has_prediction = Prediction.objects.filter(image_id=OuterRef("image_id"), model_version=model_version)
    return (
        PoolItem.objects.filter(active=True, ratings_done__lt=F("target"))
        .filter(~Exists(has_prediction))
        .select_related("image")
        .order_by("created_at", "id")
    )


def modeling_summary() -> dict[str, Any]:
    """Numbers for the dashboard panel and the models page."""
    active = model_version_active()
    summary: dict[str, Any] = {"active": active, "versions": ModelVersion.objects.count()}
    if active is not None:
        summary["predictions"] = Prediction.objects.filter(model_version=active).count()
        summary["pending"] = prescore_pending_items(model_version=active).count()
        summary["metavoter"] = (active.metrics.get("heads") or {}).get("metavoter") or {}
    return summary
