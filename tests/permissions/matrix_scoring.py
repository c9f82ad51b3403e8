"""Permission matrix of the collection/scoring API (/api/scoring/)."""

from __future__ import annotations

from typing import Any

from .base import ADM, ANON, RES, VOL, Route, allowed

# The queue's routes are for volunteers; the matrix's fresh volunteer is not certified, so the service
# answers 403 ("pass the qualification first") or 404/409 where there is nothing held: all after the role
# check passed. Admins and researchers are refused by role (403).
QUEUE = {ANON: 401, VOL: {403, 404, 409}, ADM: 403, RES: 403}


def build_context(ctx: dict[str, Any], make_user: Any) -> None:
    from annotation.scoring.models import Campaign, Submission
    from annotation.scoring.services.collection import campaign_create

    campaign: Campaign = campaign_create(
        created_by=ctx["owner"], name="matrix", principles="one\ntwo", target_count=3
    )
    ctx["campaign"] = campaign
    submitter = make_user("volunteer", username="matrix-submitter")
    ctx["submission"] = Submission.objects.create(
        campaign=campaign,
        submitter=submitter,
        upload_sha256="0" * 64,
        source_url="https://example.org/x.jpg",
        attestation=True,
    )


MATRIX: list[Route] = [
    Route("api/scoring/campaigns/", "GET", allowed(VOL, ADM)),
    Route("api/scoring/campaigns/", "POST", allowed(ADM, ok={400})),
    Route(
        "api/scoring/campaigns/<int:campaign_id>/",
        "GET",
        allowed(VOL, ADM, ok={200, 404}),
        kwargs=lambda ctx: {"campaign_id": ctx["campaign"].pk},
    ),
    Route(
        "api/scoring/campaigns/<int:campaign_id>/",
        "PATCH",
        allowed(ADM, ok={200}),
        kwargs=lambda ctx: {"campaign_id": ctx["campaign"].pk},
        data={"name": "renamed"},
    ),
    # volunteers not assigned to the campaign get 404 (no existence leak)
    Route(
        "api/scoring/campaigns/<int:campaign_id>/submissions/",
        "POST",
        allowed(VOL, ok={404}),
        kwargs=lambda ctx: {"campaign_id": ctx["campaign"].pk},
        fmt="multipart",
    ),
    Route("api/scoring/submissions/", "GET", allowed(VOL, ADM)),
    Route(
        "api/scoring/submissions/<int:submission_id>/",
        "GET",
        allowed(VOL, ADM, ok={200, 404}),
        kwargs=lambda ctx: {"submission_id": ctx["submission"].pk},
    ),
    Route(
        "api/scoring/submissions/<int:submission_id>/review/",
        "POST",
        allowed(ADM, ok={400}),
        kwargs=lambda ctx: {"submission_id": ctx["submission"].pk},
    ),
    Route(
        "api/scoring/submissions/<int:submission_id>/review/undo/",
        "POST",
        allowed(ADM, ok={409}),
        kwargs=lambda ctx: {"submission_id": ctx["submission"].pk},
    ),
    Route("api/scoring/next/", "POST", QUEUE),
    Route("api/scoring/lease/heartbeat/", "POST", QUEUE),
    Route("api/scoring/lease/skip/", "POST", QUEUE),
    Route("api/scoring/ratings/", "POST", {ANON: 401, VOL: 400, ADM: 403, RES: 403}),
    Route("api/scoring/session/", "GET", allowed(VOL)),
    Route("api/scoring/ratings/mine/", "GET", allowed(VOL)),
    # only one's own rating can be amended: someone else's (or none) is 404 for every volunteer
    Route(
        "api/scoring/ratings/<int:rating_id>/",
        "PATCH",
        allowed(VOL, ok={404}),
        kwargs=lambda ctx: {"rating_id": 987654},
        data={"scores": {"overall": 0.5}},
    ),
    Route("api/scoring/progress/", "GET", allowed(ADM, RES)),
    Route(
        "api/scoring/images/<str:sha256>/aggregate/",
        "GET",
        allowed(ADM, RES, ok={404}),
        kwargs=lambda ctx: {"sha256": ctx["image"].sha256},
    ),
    Route("api/scoring/reaggregate/", "POST", allowed(ADM, ok={202})),
    Route("api/scoring/rater-quality/", "GET", allowed(ADM)),
    Route("api/scoring/reports/latest/", "GET", allowed(ADM, RES, ok={200, 404})),
    # Per-level example images: admins only (volunteers see the chosen ones on /score/, never this API).
    Route("api/scoring/examples/", "GET", allowed(ADM)),
    Route("api/scoring/examples/", "POST", allowed(ADM, ok={400})),  # an empty body: the field errors
    Route(
        "api/scoring/examples/suggestions/",
        "GET",
        allowed(ADM, ok={400}),  # no dimension/level given: the field errors
    ),
    Route(
        "api/scoring/examples/<int:example_id>/",
        "DELETE",
        allowed(ADM, ok={404}),
        kwargs=lambda ctx: {"example_id": 987654},
    ),
]
