"""Browser pages of collection and scoring. Thin: reads through selectors, writes through services."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from annotation.models import Dimension, Standard, User
from annotation.scoring import config as scoring_config
from annotation.scoring import history, selectors
from annotation.scoring.models import Campaign, PoolItem, Submission
from annotation.scoring.services import aggregation as aggregation_services
from annotation.scoring.services import collection
from annotation.selectors import default_standard, default_standard_key
from annotation.standards.humanbeauty import LEVELS
from humanbeauty.errors import ApplicationError

from .dashboard import register_panels
from .listing import Listing, paginate
from .views import role_required
from .views_examples import level_examples_for_page


def _certified(user: User) -> bool:
    from annotation.qualification.contract import rater_is_certified

    return rater_is_certified(rater=user)


# ----------------------------------------------------------------------------- volunteer: collect


@role_required("volunteer")
def collect(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        campaign = selectors.campaign_get(
            user=request.user, campaign_id=int(request.POST.get("campaign") or 0)
        )
        upload = request.FILES.get("file")
        try:
            if campaign is None:
                raise ApplicationError("Choose one of your campaigns.")
            if upload is None:
                raise ApplicationError("Choose an image file.")
            collection.submission_create(
                campaign=campaign,
                submitter=request.user,
                data=upload.read(),
                source_url=request.POST.get("source_url", "").strip(),
                attestation=request.POST.get("attestation") == "on",
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        except Exception as exc:
            messages.error(request, f"Upload refused: {exc}")
        else:
            messages.success(request, "Uploaded. The automatic checks' verdicts appear below.")
        return redirect("frontend:collect")
    mine = selectors.submission_list(user=request.user, mine=True)
    status = request.GET.get("status", "")
    submissions = paginate(
        request,
        mine.filter(status=status) if status in Submission.Status.values else mine,
        sorts={"id": ("id",), "status": ("status", "id")},
        default_sort="-id",
        filters=("status",),
        label="Pages of my submissions",
    )
    return render(
        request,
        "frontend/scoring/collect.html",
        {
            "campaigns": list(selectors.campaign_list(user=request.user).filter(is_active=True)),
            "submissions": submissions,
            "statuses": Submission.Status.choices,
            # Reload while a check runs (on any of the volunteer's submissions, listed on this page or not).
            "checking": mine.filter(status=Submission.Status.CHECKING).exists(),
        },
    )


# ----------------------------------------------------------------------------- volunteer: score


@role_required("volunteer")
def score(request: HttpRequest) -> HttpResponse:
    standard = selectors.scoring_page_standard(rater=request.user, key=request.GET.get("standard"))
    dims = [
        {
            "key": d.key,
            "name": d.name,
            "parent": d.parent.key if d.parent else None,
            "order": d.order,
            "guideline": d.guideline,
            "low_anchor": d.low_anchor,
            "high_anchor": d.high_anchor,
            "asks_comment": d.asks_comment,
            "comment_required": d.comment_required,
        }
        for d in Dimension.objects.filter(standard=standard).select_related("parent").order_by("order")
    ]
    progress = history.rater_workspace_progress(rater=request.user)
    return render(
        request,
        "frontend/scoring/score.html",
        {
            "certified": _certified(request.user),
            "standard": standard,
            "dims": dims,
            "progress": progress,
            "amend_minutes": progress["amend_window_s"] // 60,
            "level_examples": level_examples_for_page(standard=standard),
            "level_names": [{"key": k, "name": k.capitalize()} for k in LEVELS],
        },
    )


# ----------------------------------------------------------------------------- admin: review


def _face_boxes(sub: Submission) -> list[dict[str, float]]:
    w, h = sub.image_width or 1, sub.image_height or 1
    out = []
    for f in sub.faces or []:
        x1, y1, x2, y2 = f["box"]
        out.append(
            {
                "x": 100 * x1 / w,
                "y": 100 * y1 / h,
                "w": 100 * (x2 - x1) / w,
                "h": 100 * (y2 - y1) / h,
                "score": f.get("score", 0),
            }
        )
    return out


REJECT_REASONS = (
    "No person, or the person is not the main subject",
    "More than one main person",
    "Head-only portrait: the body is not visible",
    "Watermark, collage or heavy filter",
    "Too small, blurred or badly cut off",
    "Licence or consent unclear",
)


@role_required("admin")
def review(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and request.POST.get("undo", "").isdigit():
        sub = Submission.objects.filter(pk=int(request.POST["undo"])).first()
        if sub is None:
            messages.error(request, "No such submission.")
            return redirect(request.get_full_path())  # back to the same page, sort and filters
        try:
            collection.submission_review_undo(submission=sub, user=request.user)
        except ApplicationError as exc:
            messages.error(request, f"Submission #{sub.pk}: {exc.message}")
        else:
            messages.success(request, f"Submission #{sub.pk}: decision undone, it waits for review again.")
        return redirect(request.get_full_path())  # back to the same page, sort and filters
    if request.method == "POST":
        approve = request.POST.get("decision") == "approve"
        ids = [int(v) for v in request.POST.getlist("submission") if v.isdigit()]
        if not ids:
            messages.error(request, "Select at least one submission.")
            return redirect(request.get_full_path())  # back to the same page, sort and filters
        done = []
        for sub in Submission.objects.filter(pk__in=ids).order_by("pk"):
            try:
                collection.submission_review(
                    submission=sub,
                    reviewer=request.user,
                    approve=approve,
                    reason=request.POST.get("reason", ""),
                )
            except ApplicationError as exc:
                messages.error(request, f"Submission #{sub.pk}: {exc.message}")
            else:
                done.append(f"#{sub.pk}")
        if done:
            messages.success(request, f"Submission {', '.join(done)}: {'approve' if approve else 'reject'}d.")
        return redirect(request.get_full_path())  # back to the same page, sort and filters
    pending = _review_queue(request)
    for sub in pending.page:
        sub.boxes = _face_boxes(sub)
    recent = _review_decided(request)
    now = timezone.now()
    for (
        sub
    ) in recent.page:  # Undo is offered within the window; the service re-checks and says why it refuses
        sub.undoable = sub.reviewed_at is not None and not collection.submission_undo_blockers(
            submission=sub, now=now
        )
    latest = _latest_undoable(request, now=now)  # what the u key undoes, wherever its row is listed
    return render(
        request,
        "frontend/scoring/review.html",
        {
            "pending": pending,
            "recent": recent,
            "latest_undo": latest.pk if latest else None,
            "undo_minutes": scoring_config.review_undo_window_s() // 60,
            "preset_reasons": REJECT_REASONS,
            "campaigns": Campaign.objects.order_by("name").only("pk", "name"),
            "queue_orders": [
                ("-created", "newest first"),
                ("created", "oldest first"),
                ("by", "by volunteer"),
            ],
            "decided_statuses": [
                (v, label) for v, label in Submission.Status.choices if v != Submission.Status.PASSED
            ],
        },
    )


REVIEW_PER_PAGE = 20  # the queue's cards carry the full image


def _submission_filters(qs: Any, *, q: str, campaign: str) -> Any:
    """``q``: a submission number, or part of the submitter's name or the source URL; ``campaign``: its id."""
    if q.lstrip("#").isdigit():
        qs = qs.filter(pk=int(q.lstrip("#")))
    elif q:
        qs = qs.filter(Q(submitter__username__icontains=q) | Q(source_url__icontains=q))
    if campaign.isdigit():
        qs = qs.filter(campaign_id=int(campaign))
    return qs


def _review_queue(request: HttpRequest) -> Listing:
    """Submissions that passed the checks and wait for a decision, a page at a time (``?page=``)."""
    qs = selectors.submission_list(user=request.user, status=Submission.Status.PASSED)
    qs = _submission_filters(qs, q=request.GET.get("q", "").strip(), campaign=request.GET.get("campaign", ""))
    return paginate(
        request,
        qs,
        sorts={"created": ("created_at", "id"), "by": ("submitter__username", "id")},
        default_sort="-created",
        per_page=REVIEW_PER_PAGE,
        filters=("q", "campaign", "sort"),  # its form chooses the order too
        label="Pages of the review queue",
    )


def _review_decided(request: HttpRequest) -> Listing:
    """Decided or failed submissions (``?dpage=``, ``?dsort=``, ``?dq=``, ``?dstatus=``), latest decision first."""
    qs = selectors.submission_list(user=request.user).exclude(status=Submission.Status.PASSED)
    qs = _submission_filters(qs, q=request.GET.get("dq", "").strip(), campaign="")
    status = request.GET.get("dstatus", "")
    if status in Submission.Status.values:
        qs = qs.filter(status=status)
    return paginate(
        request,
        qs,
        sorts={
            "id": ("id",),
            "by": ("submitter__username", "id"),
            "status": ("status", "id"),
            "decided": (F("reviewed_at").asc(nulls_first=True), "created_at", "id"),
        },
        default_sort="-decided",
        prefix="d",
        filters=("q", "status"),
        label="Pages of decided submissions",
    )


def _latest_undoable(request: HttpRequest, *, now: Any) -> Submission | None:
    """The caller-visible decision the ``u`` key undoes: the most recent one the service would still undo."""
    since = now - timedelta(seconds=scoring_config.review_undo_window_s())
    recent = (
        selectors.submission_list(user=request.user)
        .filter(reviewed_at__gte=since, status__in=[Submission.Status.APPROVED, Submission.Status.REJECTED])
        .order_by("-reviewed_at", "-id")[:20]
    )
    return next((s for s in recent if not collection.submission_undo_blockers(submission=s, now=now)), None)


# ----------------------------------------------------------------------------- admin: progress


def _bars(points: list[tuple[str, int]], *, width: int = 560, height: int = 160) -> dict[str, Any]:
    peak = max([v for _, v in points] or [1]) or 1
    n = max(len(points), 1)
    bw = width / n
    bars = [
        {
            "x": round(i * bw + 2, 1),
            "w": round(max(bw - 4, 1), 1),
            "h": round((height - 20) * v / peak, 1),
            "y": round(height - 20 - (height - 20) * v / peak, 1),
            "label": label,
            "value": v,
        }
        for i, (label, v) in enumerate(points)
    ]
    return {"width": width, "height": height, "bars": bars}


def _line(points: list[tuple[str, int]], *, width: int = 560, height: int = 160) -> dict[str, Any]:
    cumulative, total = [], 0
    for label, v in points:
        total += v
        cumulative.append((label, total))
    peak = max(total, 1)
    n = max(len(cumulative) - 1, 1)
    coords = [
        (round(i * width / n, 1), round(height - 10 - (height - 20) * v / peak, 1))
        for i, (_, v) in enumerate(cumulative)
    ]
    return {
        "width": width,
        "height": height,
        "path": " ".join(f"{x},{y}" for x, y in coords),
        "total": total,
        "first": cumulative[0][0] if cumulative else "",
        "last": cumulative[-1][0] if cumulative else "",
    }


@role_required("admin")
def scoring_progress(request: HttpRequest) -> HttpResponse:
    progress = selectors.scoring_progress()
    show = request.GET.get("status", "")
    campaign = request.GET.get("campaign", "")
    items = paginate(
        request,
        selectors.pool_item_list(
            complete={"complete": True, "open": False}.get(show),
            campaign_id=int(campaign) if campaign.isdigit() else None,
            image_prefix=request.GET.get("q", "").strip(),
        ),
        sorts={
            "completed": (F("completed_at").asc(nulls_first=True), "created_at", "id"),
            "ratings": ("ratings_done", "id"),
            "campaign": ("campaign__name", "id"),
        },
        default_sort="-completed",
        filters=("status", "campaign", "q"),
        label="Pages of pool images",
    )
    # Each pool item is rated on its own standard: its overall MOS is at that standard's overall position
    # (the dimension keyed "overall", else its last dimension).
    keys_by_standard: dict[int, list[str]] = {}
    for standard_id, key in Dimension.objects.order_by("standard_id", "order").values_list(
        "standard_id", "key"
    ):
        keys_by_standard.setdefault(standard_id, []).append(key)
    overall_of = {
        s: ks.index("overall") if "overall" in ks else len(ks) - 1 for s, ks in keys_by_standard.items()
    }
    rows = []
    for item in items.page.object_list:
        overall = overall_of.get(item.standard_id, 0)
        agg = getattr(item.image, "aggregate", None) if hasattr(item.image, "aggregate") else None
        mos = agg.mos[overall] if agg and len(agg.mos) > overall else None
        ci = agg.ci_half_width[overall] if agg and len(agg.ci_half_width) > overall else None
        rows.append({"item": item, "mos": mos, "ci": ci})
    return render(
        request,
        "frontend/scoring/progress.html",
        {
            "progress": progress,
            "histogram": _bars([(str(h["ratings"]), h["images"]) for h in progress["histogram"]]),
            "charts": {
                "histogram": [
                    {"ratings": h["ratings"], "images": h["images"]} for h in progress["histogram"]
                ],
                "ratings_by_hour": progress["ratings_by_hour"],
                "completed_by_hour": progress["completed_by_hour"],
            },
            "completion": _line([(p["hour"][:13], p["count"]) for p in progress["completed_by_hour"]]),
            "rows": rows,
            "items": items,
            "campaigns": Campaign.objects.order_by("name").only("pk", "name"),
            "run": selectors.aggregation_run_latest(),
        },
    )


# ----------------------------------------------------------------------------- admin: rater quality


@role_required("admin")
def rater_quality(request: HttpRequest) -> HttpResponse:
    """Rater quality on one standard (``?standard=<key>``, default: the default standard): raters' SUREAL
    bias/inconsistency, screening and reliability of that standard's latest re-aggregation."""
    standards = list(Standard.objects.order_by("name"))
    key = request.POST.get("standard") or request.GET.get("standard") or default_standard_key()
    standard = next((s for s in standards if s.key == key), None) or default_standard()
    here = f"{reverse('frontend:rater-quality')}?standard={standard.key}"
    if request.method == "POST":
        if standard.key != key:  # never re-aggregate another standard than the one asked for
            messages.error(request, f"No standard {key!r}: nothing was re-aggregated.")
            return redirect(here)
        job = aggregation_services.scoring_reaggregate_start(standard=standard, created_by=request.user)
        messages.success(request, f"Re-aggregation of {standard.name} started (job #{job.pk}).")
        return redirect(here)
    rows = list(selectors.rater_quality_list(standard=standard))
    # Drawn by Chart.js in static/frontend/charts.js from the json_script block "chart-data".
    charts = {
        "rater_scatter": [
            {"x": r.mean_delta, "y": r.mean_upsilon, "label": r.rater.username, "flagged": r.flagged}
            for r in rows
            if r.mean_delta is not None and r.mean_upsilon is not None
        ],
        "gold_mae": [
            {"label": r.rater.username, "value": r.gold_error, "flagged": r.flagged}
            for r in sorted(rows, key=lambda r: -(r.gold_error or 0.0))
            if r.gold_error is not None
        ],
    }
    run = selectors.aggregation_run_latest(standard=standard)
    sureal = (run.screening or {}).get("sureal", {}) if run else {}
    return render(
        request,
        "frontend/scoring/rater_quality.html",
        {
            "standard": standard,
            "standards": standards,
            "rows": rows,
            "charts": charts,
            "run": run,
            "sureal_iterations": max((v.get("n_iter", 0) for v in sureal.values()), default=None),
            "gold_skips": selectors.rater_gold_skip_rows(),
        },
    )


# ----------------------------------------------------------------------------- dashboard panels


@register_panels
def scoring_panels(user: User) -> list[dict[str, Any]]:
    if user.role == User.Role.VOLUNTEER and not user.is_superuser:
        if not _certified(user):
            return []
        return [
            {
                "title": "Scoring",
                "key": "scoring",
                "template": "frontend/scoring/_panel_volunteer.html",
                "context": selectors.rater_session_progress(rater=user)
                | {"campaigns": Campaign.objects.filter(volunteers=user, is_active=True).count()},
            }
        ]
    if user.is_platform_admin:
        total = PoolItem.objects.count()
        done = PoolItem.objects.filter(completed_at__isnull=False).count()
        return [
            {
                "title": "Collection and scoring",
                "key": "scoring",
                "template": "frontend/scoring/_panel_admin.html",
                "context": {
                    "to_review": Submission.objects.filter(status=Submission.Status.PASSED).count(),
                    "pool": total,
                    "complete": done,
                    "percent": math.floor(100 * done / total) if total else 0,
                },
            }
        ]
    return []
