"""Reads of the curation app (querysets with their joins), including the read-only view of the scoring
app's aggregates that becomes the HumanBeauty-50K part of a release."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from annotation.models import Job, Standard, User
from modeling.standard import DIMENSION_KEYS, NUM_DIMENSIONS, STANDARD_KEY

from .models import Release, ReleaseMember, Source, SourceItem

_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+][0-9A-Za-z.-]+)?$")


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    m = _SEMVER.match(version)
    if not m:
        return (-1, -1, -1, 0, version)
    pre = version[len(".".join(m.groups()[:3])) :]
    # 1.0.0-rc1 < 1.0.0 (a pre-release sorts before its release)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre.startswith("-") else 1, pre)


def source_list() -> QuerySet[Source]:
    return Source.objects.annotate(
        n_items=Count("items", distinct=True),
        n_kept=Count("items", filter=Q(items__kept=True), distinct=True),
        n_scored=Count("items", filter=Q(items__score__isnull=False), distinct=True),
    ).order_by("key")


def source_get(*, key: str) -> Source | None:
    return source_list().filter(key=key).first()


def source_jobs(*, source: Source, limit: int = 20) -> list[Job]:
    """Recent import/filter jobs that touched the source (JSON filtering in Python: portable to SQLite)."""
    jobs = Job.objects.filter(kind__in=["curation.import", "curation.filter"]).order_by("-created_at", "-id")
    out = []
    for job in jobs[:500]:
        if job.params.get("source") == source.key or source.key in (job.params.get("sources") or []):
            out.append(job)
        if len(out) >= limit:
            break
    return out


def source_jobs_map(*, sources: list[Source], limit: int = 20) -> dict[str, list[Job]]:
    """:func:`source_jobs` of many sources from one query (list pages)."""
    jobs = Job.objects.filter(kind__in=["curation.import", "curation.filter"]).order_by("-created_at", "-id")
    out: dict[str, list[Job]] = {s.key: [] for s in sources}
    for job in jobs[:500]:
        keys = {job.params.get("source"), *(job.params.get("sources") or [])}
        for key in keys & out.keys():
            if len(out[key]) < limit:
                out[key].append(job)
    return out


def release_list(*, user: User | None = None) -> list[Release]:
    """All releases, newest version first (semver order)."""
    rows = list(Release.objects.select_related("previous", "created_by", "job"))
    return sorted(rows, key=lambda r: semver_key(r.version), reverse=True)


def release_get(*, version: str) -> Release | None:
    return Release.objects.select_related("previous", "created_by", "job").filter(version=version).first()


def release_latest_published() -> Release | None:
    rows = [r for r in release_list() if r.is_published]
    return rows[0] if rows else None


def frozen_splits() -> dict[str, str]:
    """image id -> split it was first published with (any published release); splits never move."""
    out: dict[str, str] = {}
    rows = (
        ReleaseMember.objects.filter(release__status=Release.Status.PUBLISHED)
        .order_by("release__published_at", "release_id")
        .values_list("image_id", "split")
    )
    for image_id, split in rows.iterator(chunk_size=20000):
        out.setdefault(image_id, split)
    return out


@dataclass(frozen=True)
class Aggregate50K:
    image_id: str
    dims: tuple[float, ...]  # 12 MOS in modeling.standard order
    dim_sd: tuple[float, ...] | None
    dim_ci: tuple[float, ...] | None
    n_ratings: int


def _reorder(values: list[Any] | None, perm: list[int]) -> tuple[float, ...] | None:
    if not values or len(values) != NUM_DIMENSIONS:
        return None
    try:
        out = tuple(float(values[i]) for i in perm)
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


def scoring_aggregates_complete(*, standard_key: str = STANDARD_KEY) -> list[Aggregate50K]:
    """Per-image MOS/SD/CI of *completed* scoring-pool images on the standard (read-only view of
    ``annotation.scoring``). Vectors are re-ordered from the standard's dimension order to
    ``modeling.standard.DIMENSIONS``; images whose aggregate is incomplete or out of [0, 1] are left out."""
    from annotation.scoring.models import ImageAggregate

    standard = Standard.objects.filter(key=standard_key).first()
    if standard is None:
        return []
    order = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    if sorted(order) != sorted(DIMENSION_KEYS):
        return []
    perm = [order.index(k) for k in DIMENSION_KEYS]
    span = standard.score_max - standard.score_min
    rows = (
        ImageAggregate.objects.filter(standard=standard, image__pool_item__completed_at__isnull=False)
        .order_by("image_id")
        .values_list("image_id", "mos", "sd", "ci_half_width", "n_ratings")
    )
    out = []
    for image_id, mos, sd, ci, n in rows.iterator(chunk_size=5000):
        dims = _reorder(mos, perm)
        if dims is None:
            continue
        dims = tuple((v - standard.score_min) / span for v in dims)
        if not all(0.0 <= v <= 1.0 for v in dims):
            continue
        sds = _reorder(sd, perm)
        cis = _reorder(ci, perm)
        if span != 1.0:
            sds = tuple(v / span for v in sds) if sds else None
            cis = tuple(v / span for v in cis) if cis else None
        out.append(Aggregate50K(image_id, dims, sds, cis, int(n or 0)))
    return out


def public_items_kept() -> list[tuple[str, str, float]]:
    """(image id, source key, normalised score) of the kept public items; an image listed by several
    sources appears once (the first source key wins, deterministic)."""
    rows = (
        SourceItem.objects.filter(kept=True, score__isnull=False)
        .order_by("image_id", "source__key")
        .values_list("image_id", "source__key", "score")
    )
    out: dict[str, tuple[str, str, float]] = {}
    for image_id, key, score in rows.iterator(chunk_size=20000):
        out.setdefault(image_id, (image_id, key, float(score)))
    return list(out.values())


def release_members(*, release: Release) -> QuerySet[ReleaseMember]:
    return ReleaseMember.objects.filter(release=release).select_related("image").order_by("image_id")


def release_compare(*, a: Release, b: Release) -> dict[str, Any]:
    """Membership/label/split differences between two releases (from their frozen members)."""

    def load(r: Release) -> dict[str, tuple]:
        return {
            i: (part, split, mos, dims)
            for i, part, split, mos, dims in ReleaseMember.objects.filter(release=r).values_list(
                "image_id", "part", "split", "mos", "dims"
            )
        }

    ma, mb = load(a), load(b)
    common = set(ma) & set(mb)
    relabelled = sorted(
        i
        for i in common
        if ma[i][0] != mb[i][0] or abs(ma[i][2] - mb[i][2]) > 1e-9 or (ma[i][3] or []) != (mb[i][3] or [])
    )
    moved = sorted(i for i in common if ma[i][1] != mb[i][1])
    return {
        "from": a.version,
        "to": b.version,
        "counts": {"from": a.counts, "to": b.counts},
        "added": sorted(set(mb) - set(ma)),
        "removed": sorted(set(ma) - set(mb)),
        "relabelled": relabelled,
        "split_moved": moved,
        "summary": {
            "added": len(set(mb) - set(ma)),
            "removed": len(set(ma) - set(mb)),
            "relabelled": len(relabelled),
            "split_moved": len(moved),
            "unchanged": len(common) - len(relabelled),
        },
    }


FILTER_VIEWS = ("rejected", "kept", "unreadable", "pending", "all")


def source_filter_results(*, source: Source, show: str = "rejected") -> QuerySet[SourceItem]:
    """A source's items with their filter verdict, for browsing: ``rejected`` (read but not single-face),
    ``kept``, ``unreadable`` (the file could not be decoded), ``pending`` (not filtered yet) or ``all``.
    Each item carries ``detections`` (its image's face detections, newest first) for the reason."""
    from django.db.models import Prefetch

    from .models import FaceDetection

    items = SourceItem.objects.filter(source=source).select_related("image")
    latest_first = FaceDetection.objects.order_by("-pk")
    items = items.prefetch_related(
        Prefetch("image__face_detections", queryset=latest_first, to_attr="detections")
    )
    if show == "kept":
        items = items.filter(kept=True)
    elif show == "rejected":
        items = items.filter(kept=False).exclude(image__face_detections__error__gt="")
    elif show == "unreadable":
        items = items.filter(image__face_detections__error__gt="").distinct()
    elif show == "pending":
        items = items.filter(kept__isnull=True)
    return items.order_by("native_id")
