"""Curation routes: sources, filtering and publishing are admin-only; releases are read by admins and
researchers."""

from __future__ import annotations

from .base import ADM, RES, Route, allowed


def build_context(ctx, make_user) -> None:
    """A source and a published-looking release row (files are not needed: 409/404 reach the view)."""
    from curation.models import Release, Source

    ctx["source"] = Source.objects.create(
        key="matrix_src", name="m", importer="scut_fbp5500", root="/nonexistent", score_min=1, score_max=5
    )
    ctx["release"] = Release.objects.create(version="0.0.1", split_salt="s", content_date="")
    ctx["release2"] = Release.objects.create(version="0.0.2", split_salt="s", content_date="")


SRC = {"key": "matrix_src"}
REL = {"version": "0.0.1"}

MATRIX: list[Route] = [
    Route("api/curation/sources/", "GET", allowed(ADM)),
    Route("api/curation/sources/", "POST", allowed(ADM, ok={400})),
    Route("api/curation/sources/<slug:key>/", "GET", allowed(ADM), kwargs=lambda ctx: SRC),
    # the folder does not exist: the import job is queued and fails in the job, the API answers 202
    Route("api/curation/sources/<slug:key>/import/", "POST", allowed(ADM, ok={202}), kwargs=lambda ctx: SRC),
    Route(
        "api/curation/sources/<slug:key>/filter/",
        "POST",
        allowed(ADM, ok={202}),
        kwargs=lambda ctx: SRC,
        data={"chunk_size": 10},
    ),
    Route("api/curation/releases/", "GET", allowed(ADM, RES)),
    # publishing is for admins only (researchers read releases)
    Route("api/curation/releases/", "POST", allowed(ADM, ok={400}), data={"version": "not-semver"}),
    Route("api/curation/releases/preview/", "GET", allowed(ADM)),
    Route("api/curation/releases/<str:version>/", "GET", allowed(ADM, RES), kwargs=lambda ctx: REL),
    Route(
        "api/curation/releases/<str:version>/card/",
        "GET",
        allowed(ADM, RES, ok={409}),
        kwargs=lambda ctx: REL,
    ),
    Route(
        "api/curation/releases/<str:version>/compare/<str:other>/",
        "GET",
        allowed(ADM, RES),
        kwargs=lambda ctx: {"version": "0.0.1", "other": "0.0.2"},
    ),
    Route(
        "api/curation/releases/<str:version>/archive/",
        "GET",
        allowed(ADM, RES, ok={409}),
        kwargs=lambda ctx: REL,
    ),
    Route(
        "api/curation/releases/<str:version>/files/<path:path>",
        "GET",
        allowed(ADM, RES, ok={409}),
        kwargs=lambda ctx: {"version": "0.0.1", "path": "README.md"},
    ),
]
