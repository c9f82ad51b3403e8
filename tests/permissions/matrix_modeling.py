"""Modeling API: admins and researchers read and score; only admins train, evaluate, activate, pre-score.
Volunteers (raters) reach none of it: predictions are never shown to them."""

from __future__ import annotations

from typing import Any

from .base import ADM, RES, Route, allowed


def build_context(ctx: dict[str, Any], make_user: Any) -> None:
    from modeling.models import ModelVersion

    # A version still training: activation answers 409, nothing heavy runs.
    ctx["model_version"] = ModelVersion.objects.create(version="matrix-training")


def _version(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"version_id": ctx["model_version"].pk}


MATRIX: list[Route] = [
    Route("api/modeling/versions/", "GET", allowed(ADM, RES)),
    Route("api/modeling/versions/", "POST", allowed(ADM, ok={400})),
    Route("api/modeling/versions/<int:version_id>/", "GET", allowed(ADM, RES), kwargs=_version),
    Route(
        "api/modeling/versions/<int:version_id>/activate/", "POST", allowed(ADM, ok={409}), kwargs=_version
    ),
    Route(
        "api/modeling/versions/<int:version_id>/evaluate/", "POST", allowed(ADM, ok={400}), kwargs=_version
    ),
    Route("api/modeling/prescore/", "POST", allowed(ADM, ok={409})),
    Route("api/modeling/predict/", "POST", allowed(ADM, RES, ok={400}), fmt="multipart"),
    Route("api/modeling/predict/jobs/", "POST", allowed(ADM, RES, ok={400}), fmt="multipart"),
    Route(
        "api/modeling/predictions/<str:sha256>/",
        "GET",
        allowed(ADM, RES, ok={404}),
        kwargs=lambda ctx: {"sha256": "0" * 64},
    ),
]
