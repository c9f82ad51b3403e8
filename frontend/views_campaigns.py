"""Admin pages: create and edit collection campaigns and choose their volunteers (writes through
``annotation.scoring.services.collection``; the form only parses and reports)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from annotation.models import User
from annotation.scoring.models import Campaign
from annotation.scoring.services import collection
from annotation.selectors import default_standard_key, standard_list
from humanbeauty.errors import ApplicationError

from .listing import paginate
from .views import role_required

NUMBER_FIELDS = {"target_count": int, "ratings_target": int, "ratings_step": int, "ratings_cap": int}


def _certified_volunteers() -> list[User]:
    from annotation.qualification.contract import rater_is_certified

    return [
        u
        for u in User.objects.filter(role=User.Role.VOLUNTEER).order_by("username")
        if rater_is_certified(rater=u)
    ]


def _fields_from(post: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "principles": post.get("principles", "").strip(),
        "is_active": post.get("is_active") == "on",
        "max_ci_half_width": float(post.get("max_ci_half_width") or 0.15),
    }
    for name, cast in NUMBER_FIELDS.items():
        try:
            fields[name] = cast(post.get(name) or 0)
        except ValueError:
            raise ApplicationError(f"{name}: a whole number is required.") from None
    return fields


def _volunteers_from(post: Any) -> list[User]:
    ids = [int(v) for v in post.getlist("volunteers") if v.isdigit()]
    return list(User.objects.filter(pk__in=ids))


def _save(request: HttpRequest, campaign: Campaign | None) -> Campaign | None:
    try:
        fields = _fields_from(request.POST)
        volunteers = _volunteers_from(request.POST)
        if campaign is None:
            key = request.POST.get("standard") or default_standard_key()
            fields["standard"] = standard_list().filter(key=key).first()
            if fields["standard"] is None:
                raise ApplicationError(f"standard: no standard {key!r}.")
            return collection.campaign_create(created_by=request.user, volunteers=volunteers, **fields)
        return collection.campaign_update(campaign=campaign, volunteers=volunteers, **fields)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
    except ValueError as exc:
        messages.error(request, f"Check the numbers: {exc}")
    return None


@role_required("admin")
def campaigns(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        campaign = _save(request, None)
        if campaign is not None:
            messages.success(request, f"Campaign “{campaign.name}” created.")
            return redirect("frontend:campaign-edit", campaign_id=campaign.pk)
    qs = Campaign.objects.select_related("standard").annotate(n_volunteers=Count("volunteers", distinct=True))
    if q := request.GET.get("q", "").strip():
        qs = qs.filter(name__icontains=q)
    if (state := request.GET.get("state", "")) in ("open", "closed"):
        qs = qs.filter(is_active=state == "open")
    listing = paginate(
        request,
        qs,
        sorts={
            "name": ("name", "id"),
            "open": ("is_active", "created_at", "id"),
            "volunteers": ("n_volunteers", "id"),
            "target": ("target_count", "id"),
            "created": ("created_at", "id"),
        },
        default_sort="-open",
        filters=("q", "state"),
        label="Pages of campaigns",
    )
    return render(
        request,
        "frontend/scoring/campaigns.html",
        {
            "listing": listing,
            "volunteers": _certified_volunteers(),
            "campaign": None,
            "chosen": set(),
            "standards": standard_list(),
            "default_standard": default_standard_key(),
        },
    )


@role_required("admin")
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if request.method == "POST":
        if _save(request, campaign) is not None:
            messages.success(request, f"Campaign “{campaign.name}” saved.")
            return redirect("frontend:campaign-edit", campaign_id=campaign.pk)
        campaign.refresh_from_db()
    return render(
        request,
        "frontend/scoring/campaign_edit.html",
        {
            "campaign": campaign,
            "volunteers": _certified_volunteers(),
            "chosen": set(campaign.volunteers.values_list("pk", flat=True)),
            "submissions": campaign.submissions.count(),
            "pool": campaign.pool.count(),
        },
    )
