from __future__ import annotations

from .base import ADM, ANON, RES, VOL, Route, allowed

EVERYONE = (VOL, ADM, RES)

MATRIX: list[Route] = [
    Route("api/auth/token/", "POST", {ANON: 400, VOL: 400, ADM: 400, RES: 400}),
    Route("api/me/", "GET", allowed(*EVERYONE)),
    Route("api/standards/", "GET", allowed(*EVERYONE)),
    Route("api/standards/", "POST", allowed(ADM, ok={400})),
    Route(
        "api/standards/<slug:key>/", "GET", allowed(*EVERYONE), kwargs=lambda ctx: {"key": "humanbeauty-v1"}
    ),
    Route("api/images/", "GET", allowed(ADM, RES)),
    Route("api/images/", "POST", allowed(ADM, ok={400}), fmt="multipart"),
    # Image access by need: the context image is public but unreleased, not leased, uploaded by nobody:
    # only admins may see it; researchers and volunteers get the 404 of a missing image (no existence leak).
    # Per-need cases (leases, uploads, qualification items, releases, gold): tests/core/test_image_access.py.
    Route(
        "api/images/<str:sha256>/",
        "GET",
        {ANON: 401, VOL: 403, ADM: 200, RES: 404},
        kwargs=lambda ctx: {"sha256": ctx["image"].sha256},
    ),
    Route(
        "api/images/<str:sha256>/file/",
        "GET",
        {ANON: 401, VOL: 404, ADM: 200, RES: 404},
        kwargs=lambda ctx: {"sha256": ctx["image"].sha256},
    ),
    Route(
        "api/images/<str:sha256>/thumb/",
        "GET",
        {ANON: 401, VOL: 404, ADM: 200, RES: 404},
        kwargs=lambda ctx: {"sha256": ctx["image"].sha256},
    ),
    Route("api/jobs/", "GET", allowed(*EVERYONE)),
    # A job is visible to its creator and to admins; other users get 404 (no existence leak).
    Route(
        "api/jobs/<int:job_id>/",
        "GET",
        allowed(*EVERYONE, ok={200, 404}),
        kwargs=lambda ctx: {"job_id": ctx["job"].pk},
    ),
    Route(
        "api/jobs/<int:job_id>/cancel/",
        "POST",
        allowed(*EVERYONE, ok={200, 404, 409}),
        kwargs=lambda ctx: {"job_id": ctx["job"].pk},
    ),
    # Resume is for admins (409: this kind cannot resume, or it already finished).
    Route(
        "api/jobs/<int:job_id>/resume/",
        "POST",
        allowed(ADM, ok={200, 409}),
        kwargs=lambda ctx: {"job_id": ctx["job"].pk},
    ),
]
