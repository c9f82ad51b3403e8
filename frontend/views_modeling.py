"""Pages of the modeling area: the model registry with metrics, activation (admin), upload-and-score
(admin, researcher), and the dashboard panel. Reads through selectors, writes through services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation.models import User
from annotation.standards.humanbeauty import LEVELS
from humanbeauty.errors import ApplicationError
from modeling import selectors
from modeling.services import model_version_activate

from .dashboard import register_panels
from .listing import paginate
from .views import role_required

HEAD_LABELS = (
    ("metavoter", "MetaVoter (final)"),
    ("lm", "LM head"),
    ("regression", "Regression head"),
    ("expert", "Expert head (overall)"),
)


def _head_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    heads = metrics.get("heads") or {}
    return [{"key": key, "label": label, "m": heads[key]} for key, label in HEAD_LABELS if key in heads]


@role_required("admin", "researcher")
def models_list(request: HttpRequest) -> HttpResponse:
    listing = paginate(
        request,
        selectors.model_version_list(),
        sorts={"created": ("created_at", "id")},
        default_sort="-created",
        per_page=20,
        label="Pages of model versions",
    )
    versions = [
        {"v": mv, "heads": _head_rows(mv.metrics), "dims": (mv.metrics or {}).get("per_dimension_mae") or {}}
        for mv in listing.page.object_list
    ]
    return render(
        request,
        "frontend/modeling/models.html",
        {
            "versions": versions,
            "listing": listing,
            "summary": selectors.modeling_summary(),
            "dimensions": _dimension_rows(),
        },
    )


@require_POST
@role_required("admin")
def models_activate(request: HttpRequest, version_id: int) -> HttpResponse:
    mv = selectors.model_version_get(version_id=version_id)
    if mv is None:
        messages.error(request, "No such model version.")
        return redirect("frontend:models")
    try:
        model_version_activate(model_version=mv, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{mv.version} is now the active version; pre-scoring of the pool is queued."
        )
    return redirect("frontend:models")


def _dimension_names(version: Any) -> dict[str, str]:
    """Dimension key -> name of the standard the (active) version predicts, in the standard's order."""
    from annotation.selectors import default_standard, standard_dimensions

    standard = selectors.prediction_standard(version) if version is not None else default_standard()
    return {d.key: d.name for d in standard_dimensions(standard=standard)}


def _dimension_rows() -> list[dict[str, str]]:
    names = _dimension_names(selectors.model_version_active())
    return [{"key": k, "name": n} for k, n in names.items()]


@role_required("admin", "researcher")
def models_score(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "frontend/modeling/score.html",
        {
            "active": selectors.model_version_active(),
            "ready": selectors.model_version_list().filter(status="ready"),
            "dimension_names": _dimension_names(selectors.model_version_active()),
            "levels": LEVELS,
        },
    )


@register_panels
def modeling_panels(user: User) -> list[dict[str, Any]]:
    if not (user.is_superuser or user.role in ("admin", "researcher")):
        return []
    return [
        {
            "key": "modeling",
            "title": "Model pre-scoring",
            "template": "frontend/modeling/_panel.html",
            "context": selectors.modeling_summary(),
        }
    ]
