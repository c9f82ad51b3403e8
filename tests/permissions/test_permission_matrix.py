"""Every API route × anonymous/volunteer/admin/researcher gets the expected status."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from annotation.services.images import image_ingest
from annotation.services.jobs import job_create
from tests.conftest import jpeg_bytes

from . import __path__ as pkg_path
from .base import ANON, Route

CONTEXT_BUILDERS: list[Any] = []  # app matrices may append callables (ctx, make_user) -> None


def _all_matrix_entries() -> list[Route]:
    entries: list[Route] = []
    for mod in pkgutil.iter_modules(pkg_path):
        if mod.name.startswith("matrix_"):
            module = importlib.import_module(f"{__package__}.{mod.name}")
            entries.extend(module.MATRIX)
            if hasattr(module, "build_context"):
                CONTEXT_BUILDERS.append(module.build_context)
    return entries


MATRIX = _all_matrix_entries()


def _api_routes() -> set[tuple[str, tuple[str, ...]]]:
    found: set[tuple[str, tuple[str, ...]]] = set()

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                if not route.startswith("api/") or route.startswith(("api/schema", "api/docs", "api/redoc")):
                    continue
                view = p.callback
                cls = getattr(view, "view_class", None) or getattr(view, "cls", None)
                methods = tuple(
                    m.upper()
                    for m in ("get", "post", "put", "patch", "delete")
                    if cls is not None and hasattr(cls, m)
                )
                found.add((route, methods))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_and_method_is_in_the_matrix() -> None:
    listed = {(r.route, r.method) for r in MATRIX}
    missing = sorted(
        f"{method} /{route}"
        for route, methods in _api_routes()
        for method in methods
        if (route, method) not in listed
    )
    assert missing == [], "add these routes to a tests/permissions/matrix_*.py module:\n" + "\n".join(missing)


@pytest.fixture
def ctx(db, make_user) -> dict[str, Any]:
    context: dict[str, Any] = {"owner": make_user("admin", username="matrix-owner")}
    context["image"] = image_ingest(data=jpeg_bytes(seed=99), provenance="public")[0]
    context["job"] = job_create(kind="matrix", created_by=context["owner"])
    for builder in CONTEXT_BUILDERS:
        builder(context, make_user)
    return context


def _url(route: Route, ctx: dict[str, Any]) -> str:
    kwargs = route.kwargs(ctx)

    def sub(match: re.Match[str]) -> str:
        return str(kwargs[match.group(1)])

    return "/" + re.sub(r"<(?:[a-z]+:)?(\w+)>", sub, route.route)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [ANON, "volunteer", "admin", "researcher"])
@pytest.mark.parametrize("entry", MATRIX, ids=[f"{r.method} {r.route}" for r in MATRIX])
def test_permission_matrix(entry: Route, role: str, ctx, client_for) -> None:
    client = client_for(None if role == ANON else role)
    url = _url(entry, ctx)
    call = getattr(client, entry.method.lower())
    response = call(url, entry.data, format=entry.fmt) if entry.method != "GET" else call(url)
    expected = entry.expect[role]
    allowed = expected if isinstance(expected, set) else {expected}
    assert response.status_code in allowed, (
        role,
        entry.method,
        url,
        response.status_code,
        response.content[:300],
    )
    if response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
        assert set(response.json()) == {"message", "extra"}
