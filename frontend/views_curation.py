"""Curation pages: public sources and their filter progress (admins); releases, their card, plots, comparison
and downloads (admins and researchers). Reads go through curation selectors; writes go through the API
(HB.api) so pages and scripts share one path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from annotation.models import User
from curation import selectors
from curation.downloads import release_manifest
from curation.models import Release
from curation.services.filtering import filter_summaries
from humanbeauty.errors import ApplicationError

from .dashboard import register_panels
from .views import role_required


def _markdown(text: str) -> tuple[str, SafeString]:
    """(YAML front matter, body as HTML). markdown-it-py renders when installed (html disabled, so the
    card cannot inject markup); otherwise the escaped text is shown preformatted."""
    yaml, body = "", text
    m = re.match(r"^---\n(.*?)\n---\n", text, flags=re.S)
    if m:
        yaml, body = m.group(1), text[m.end() :]
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover - optional renderer
        return yaml, mark_safe(f"<pre>{escape(body)}</pre>")
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(body)
    return yaml, mark_safe(html)


@role_required("admin")
def sources(request: HttpRequest) -> HttpResponse:
    sources = list(selectors.source_list())
    summaries = filter_summaries(sources=sources)
    jobs = selectors.source_jobs_map(sources=sources, limit=3)
    rows = [{"source": s, "filter": summaries[s.key], "jobs": jobs[s.key]} for s in sources]
    from curation.importers import IMPORTERS

    importers = [{"key": k, "layout": imp.layout} for k, imp in IMPORTERS.items()]
    return render(request, "frontend/curation/sources.html", {"rows": rows, "importers": importers})


@role_required("admin")
def source_results(request: HttpRequest, key: str) -> HttpResponse:
    """Browse a source's filter verdicts: thumbnails with the reason, 48 per page."""
    from django.core.paginator import Paginator

    source = get_object_or_404(selectors.source_list(), key=key)
    show = request.GET.get("show", "rejected")
    if show not in selectors.FILTER_VIEWS:
        show = "rejected"
    page = Paginator(selectors.source_filter_results(source=source, show=show), 48).get_page(
        request.GET.get("page")
    )
    for item in page.object_list:
        item.detection = item.image.detections[0] if item.image.detections else None
    return render(
        request,
        "frontend/curation/source_results.html",
        {"source": source, "show": show, "views": selectors.FILTER_VIEWS, "page": page},
    )


@role_required("admin", "researcher")
def releases(request: HttpRequest) -> HttpResponse:
    rows = selectors.release_list()
    published = [r for r in rows if r.is_published]
    # Releases compare only within one standard's lineage: the form offers, per standard with at least two
    # published releases, its releases (newest first) as one option group.
    by_standard: dict[str, list[Release]] = {}
    for r in published:
        by_standard.setdefault(selectors.release_standard_key(r), []).append(r)
    comparable = [(key, group) for key, group in by_standard.items() if len(group) >= 2]
    return render(
        request,
        "frontend/curation/releases.html",
        {
            "releases": rows,
            "comparable": comparable,
            "can_publish": request.user.is_platform_admin,
            "standards": selectors.release_standards(),
        },
    )


def _release(version: str) -> Release:
    release = selectors.release_get(version=version)
    if release is None:
        raise Http404("No such release.")
    return release


@role_required("admin", "researcher")
def release_detail(request: HttpRequest, version: str) -> HttpResponse:
    release = _release(version)
    ctx: dict[str, Any] = {"release": release, "plots": [], "downloads": []}
    if release.is_published and release.path:
        root = Path(release.path)
        ctx["card_yaml"], ctx["card_html"] = _markdown((root / "README.md").read_text(encoding="utf-8"))
        manifest = release_manifest(root)
        ctx["plots"] = sorted(p for p in manifest if p.startswith("stats/") and p.endswith(".png"))
        ctx["downloads"] = [
            p
            for p in (
                "README.md",
                "scores.csv",
                "train.json",
                "test.json",
                "croissant.json",
                "release.json",
                "SHA256SUMS",
                "CHANGELOG.md",
                "diff.json",
            )
            if p in manifest or p in ("release.json", "SHA256SUMS")
        ] + sorted(p for p in manifest if p.startswith(("data/", "ratings/")))
    return render(request, "frontend/curation/release_detail.html", ctx)


@role_required("admin", "researcher")
def release_compare(request: HttpRequest, version: str, other: str) -> HttpResponse:
    a, b = _release(version), _release(other)
    try:
        diff = selectors.release_compare(a=a, b=b)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("frontend:releases")
    return render(request, "frontend/curation/release_compare.html", {"a": a, "b": b, "diff": diff})


@register_panels
def curation_panels(user: User) -> list[dict[str, Any]]:
    if user.is_platform_admin:
        sources = list(selectors.source_list()[:6])
        summaries = filter_summaries(sources=sources)
        rows = [{"source": s, "filter": summaries[s.key]} for s in sources]
        return [{"title": "Public sources", "key": "curation-sources", "template": "frontend/curation/_panel_sources.html",
                 "context": {"rows": rows, "latest": selectors.release_latest_published()}}]  # fmt: skip
    if user.role == User.Role.RESEARCHER:
        return [{"title": "Latest release", "key": "curation-release", "template": "frontend/curation/_panel_release.html",
                 "context": {"latest": selectors.release_latest_published()}}]  # fmt: skip
    return []
