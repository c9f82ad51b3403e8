"""Admin page: choose per-level example images of each dimension (shown to raters on /score/). Validation
is the API's serializer (``annotation.scoring.apis_examples``), writes go through the examples service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from annotation.models import Dimension, Standard
from annotation.scoring import selectors
from annotation.scoring.apis_examples import LevelExampleInputSerializer, example_rows
from annotation.scoring.models import LevelExample
from annotation.scoring.services import examples
from annotation.selectors import default_standard_key
from annotation.standards.humanbeauty import LEVELS
from humanbeauty.errors import ApplicationError

from .views import role_required

SUGGESTIONS_PER_LEVEL = 6


def _errors(detail: Any, prefix: str = "") -> list[str]:
    """Flatten DRF's field errors into sentences: ``dimension: Unknown dimension …``."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            out += _errors(value, "" if key == "non_field_errors" else f"{key}: ")
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _errors(item, prefix)]
    return [f"{prefix}{detail}"]


def _back(dimension_key: str) -> HttpResponse:
    return redirect(f"{reverse('frontend:level-examples')}?dimension={dimension_key}")


@role_required("admin")
def level_examples(request: HttpRequest) -> HttpResponse:
    standard = Standard.objects.filter(key=default_standard_key()).first()
    dims = list(Dimension.objects.filter(standard=standard).order_by("order"))
    if request.method == "POST":
        key = request.POST.get("dimension", "")
        if request.POST.get("action") == "remove":
            example = LevelExample.objects.filter(pk=int(request.POST.get("example") or 0)).first()
            if example is None:
                messages.error(request, "No such example (already removed?).")
            else:
                examples.level_example_remove(example=example)
                messages.success(
                    request, f"Removed the example from {example.level} on {example.dimension.name}."
                )
            return _back(key)
        form = LevelExampleInputSerializer(
            data={
                "standard": default_standard_key(),
                "dimension": key,
                "level": request.POST.get("level", ""),
                "image": request.POST.get("image", "").strip().lower(),
            }
        )
        if not form.is_valid():
            for line in _errors(form.errors):
                messages.error(request, line)
            return _back(key)
        v = form.validated_data
        try:
            examples.level_example_add(
                dimension=v["dimension"], level=v["level"], image=v["image"], chosen_by=request.user
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Added an example of {v['level']} on {v['dimension'].name}.")
        return _back(key)

    dimension = next((d for d in dims if d.key == request.GET.get("dimension")), dims[0] if dims else None)
    levels: list[dict[str, Any]] = []
    if dimension is not None:
        chosen = example_rows(standard=standard, dimension=dimension)
        levels = [
            {
                "key": level,
                "name": level.capitalize(),
                "centre": selectors.level_centre(standard=standard, level=level),
                "chosen": [c for c in chosen if c["level"] == level],
                "suggestions": selectors.level_example_suggestions(
                    dimension=dimension, level=level, limit=SUGGESTIONS_PER_LEVEL
                ),
            }
            for level in LEVELS
        ]
    return render(
        request,
        "frontend/scoring/level_examples.html",
        {
            "dims": dims,
            "dimension": dimension,
            "levels": levels,
            "max_per_level": examples.MAX_PER_LEVEL,
            "level_keys": LEVELS,
        },
    )


def level_examples_for_page(*, standard: Standard | None) -> dict[str, dict[str, list[dict[str, str]]]]:
    """The scoring page's strip: ``{dimension key: {level: [{thumb_url, image_url}, ...]}}`` (no scores:
    raters see the level an example stands for, never its MOS)."""
    if standard is None:
        return {}
    return {
        key: {
            level: [
                {
                    "thumb_url": reverse("annotation:image-thumb", kwargs={"sha256": sha}),
                    "image_url": reverse("annotation:image-file", kwargs={"sha256": sha}),
                }
                for sha in shas
            ]
            for level, shas in by_level.items()
        }
        for key, by_level in selectors.level_examples_by_dimension(standard=standard).items()
    }
