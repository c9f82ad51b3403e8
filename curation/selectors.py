"""Reads of the curation app (querysets with their joins), including the read-only view of the scoring
app's aggregates that becomes the HumanBeauty-50K part of a release."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet

from annotation.models import Job, Standard, User
from annotation.standards.humanbeauty import DIMENSION_KEYS, NUM_DIMENSIONS, STANDARD_KEY
from humanbeauty.errors import ApplicationError

from .models import FaceDetection, Release, ReleaseMember, Source, SourceItem

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
    rows = list(Release.objects.select_related("previous", "created_by", "job", "standard"))
    return sorted(rows, key=lambda r: semver_key(r.version), reverse=True)


def release_get(*, version: str) -> Release | None:
    return (
        Release.objects.select_related("previous", "created_by", "job", "standard")
        .filter(version=version)
        .first()
    )


def release_standards() -> list[Standard]:
    """Standards that have a release layout (the default standard first): what a release can be of."""
    from annotation.selectors import default_standard_key

    from .release_writer import STANDARD_LAYOUTS

    rows = list(Standard.objects.filter(key__in=list(STANDARD_LAYOUTS)).order_by("key"))
    return sorted(rows, key=lambda s: s.key != default_standard_key())


def release_standard_key(release: Release) -> str:
    """The key of the standard a release publishes (releases without one: the default standard)."""
    from annotation.selectors import default_standard_key

    return release.standard.key if release.standard_id else default_standard_key()


def _of_standard(standard_key: str | None, prefix: str = "") -> Q:
    """Releases of a standard (None: the default one, including releases made before releases had one)."""
    from annotation.selectors import default_standard_key

    key = standard_key or default_standard_key()
    q = Q(**{f"{prefix}standard__key": key})
    return q | Q(**{f"{prefix}standard__isnull": True}) if key == default_standard_key() else q


def release_latest_published(*, standard_key: str | None = None) -> Release | None:
    """The newest published release (semver) of a standard (None: the default standard)."""
    rows = Release.objects.select_related("previous", "created_by", "job", "standard").filter(
        _of_standard(standard_key), status=Release.Status.PUBLISHED
    )
    rows = sorted(rows, key=lambda r: semver_key(r.version), reverse=True)
    return rows[0] if rows else None


def frozen_splits(*, standard_key: str | None = None) -> dict[str, str]:
    """image id -> split it was first published with (any published release of the standard); splits never
    move."""
    out: dict[str, str] = {}
    rows = (
        ReleaseMember.objects.filter(
            _of_standard(standard_key, "release__"), release__status=Release.Status.PUBLISHED
        )
        .order_by("release__published_at", "release_id")
        .values_list("image_id", "split")
    )
    for image_id, split in rows.iterator(chunk_size=20000):
        out.setdefault(image_id, split)
    return out


@dataclass(frozen=True)
class Aggregate50K:
    image_id: str
    dims: tuple[float, ...]  # 12 MOS in the HumanBeauty standard's order
    dim_sd: tuple[float, ...] | None
    dim_ci: tuple[float, ...] | None
    n_ratings: int
    psi: tuple[float, ...] | None = None  # SUREAL psi (latest aggregation run), same order and scale
    psi_se: tuple[float, ...] | None = None
    dim_n: tuple[int, ...] | None = None


def _reorder(
    values: list[Any] | None, perm: list[int] | None, n_dims: int = NUM_DIMENSIONS
) -> tuple[float, ...] | None:
    """``values`` as floats in ``perm`` order (None: already in order); None unless ``n_dims`` finite numbers."""
    if not values or len(values) != n_dims:
        return None
    try:
        out = tuple(map(float, values)) if perm is None else tuple(float(values[i]) for i in perm)
    except (TypeError, ValueError):
        return None
    # the sum is finite iff every value is (NaN and infinities propagate; scores are far from overflow)
    return out if math.isfinite(sum(out)) else None


def _aggregate_rows(standard: Standard) -> Iterator[tuple]:
    """(image_id, mos, sd, ci, n_ratings, psi, psi_se, n) of completed pool images. PostgreSQL: the six
    JSON lists arrive as one JSON text per row, parsed with one ``json.loads`` for all rows."""
    from annotation.scoring.models import ImageAggregate, PoolItem

    if connection.vendor == "postgresql":
        sql = f"""
            SELECT a.image_id, a.n_ratings,
                   json_build_array(a.mos, a.sd, a.ci_half_width, a.psi, a.psi_se, a.n)::text
            FROM {ImageAggregate._meta.db_table} a
            JOIN {PoolItem._meta.db_table} p ON p.image_id = a.image_id AND p.completed_at IS NOT NULL
            WHERE a.standard_id = %s
            ORDER BY a.image_id
        """  # table names come from the models; values are bound
        with connection.cursor() as cursor:
            cursor.execute(sql, [standard.pk])
            rows = cursor.fetchall()
        lists = json.loads("[" + ",".join(r[2] for r in rows) + "]")
        for (image_id, n, _t), (mos, sd, ci, psi, psi_se, dim_n) in zip(rows, lists, strict=True):
            yield image_id, mos, sd, ci, n, psi, psi_se, dim_n
        return
    rows = (
        ImageAggregate.objects.filter(standard=standard, image__pool_item__completed_at__isnull=False)
        .order_by("image_id")
        .values_list("image_id", "mos", "sd", "ci_half_width", "n_ratings", "psi", "psi_se", "n")
    )
    yield from rows.iterator(chunk_size=5000)


def _dimension_perm(standard: Standard) -> list[int] | None:
    """Index of each HumanBeauty-standard dimension in the standard's own order (None: other dimensions)."""
    order = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    if sorted(order) != sorted(DIMENSION_KEYS):
        return None
    return [order.index(k) for k in DIMENSION_KEYS]


def _aggregates(
    standard: Standard, perm: list[int], rows: Iterable[tuple], n_dims: int = NUM_DIMENSIONS
) -> list[Aggregate50K]:
    """Aggregate rows (as :func:`_aggregate_rows` yields them) re-ordered and scaled to [0, 1]; incomplete
    or out of range aggregates are left out."""
    lo, span = standard.score_min, standard.score_max - standard.score_min
    unit = lo == 0.0 and span == 1.0  # (v - 0) / 1 == v exactly: nothing to rescale
    order = None if perm == list(range(n_dims)) else perm
    out = []
    for image_id, mos, sd, ci, n, psi, psi_se, dim_n in rows:
        dims = _reorder(mos, order, n_dims)
        if dims is None:
            continue
        if not unit:
            dims = tuple((v - lo) / span for v in dims)
        if not (min(dims) >= 0.0 and max(dims) <= 1.0):
            continue
        sds = _reorder(sd, order, n_dims)
        cis = _reorder(ci, order, n_dims)
        psis = _reorder(psi, order, n_dims)
        ses = _reorder(psi_se, order, n_dims)
        ns = _reorder(dim_n, order, n_dims)
        if psis and not unit:
            psis = tuple((v - lo) / span for v in psis)
        psis = psis or None
        if span != 1.0:
            sds = tuple(v / span for v in sds) if sds else None
            cis = tuple(v / span for v in cis) if cis else None
            ses = tuple(v / span for v in ses) if ses else None
        out.append(
            Aggregate50K(
                image_id, dims, sds, cis, int(n or 0), psis, ses, tuple(int(v) for v in ns) if ns else None
            )
        )
    return out


def scoring_aggregates_complete(*, standard_key: str = STANDARD_KEY) -> list[Aggregate50K]:
    """Per-image MOS/SD/CI of *completed* scoring-pool images on the standard (read-only view of
    ``annotation.scoring``). Vectors are re-ordered from the standard's dimension order to
    the HumanBeauty standard's ``DIMENSIONS``; images whose aggregate is incomplete or out of [0, 1] are left out."""

    standard = Standard.objects.filter(key=standard_key).first()
    if standard is None:
        return []
    perm = _dimension_perm(standard)
    if perm is None:
        return []
    return _aggregates(standard, perm, _aggregate_rows(standard))


@dataclass(frozen=True)
class RatedAggregates:
    """What the release freeze reads of the scoring app: the complete aggregates, the raw ratings per image
    up to the cutoff, the cutoff (max rating id) and the newest rating's time."""

    aggregates: list[Aggregate50K]
    counts: dict[str, int]
    cutoff: int
    newest: Any


def _rating_counts(standard: Standard, cutoff: int) -> dict[str, int]:
    """Raw ratings per image of the standard up to rating id ``cutoff`` (portable ORM query)."""
    from annotation.scoring.models import Rating

    return dict(
        Rating.objects.filter(standard=standard, id__lte=cutoff)
        .order_by()
        .values_list("image_id")
        .annotate(n=Count("id"))
        .values_list("image_id", "n")
    )


def scoring_aggregates_rated(*, standard: Standard) -> RatedAggregates:
    """:func:`scoring_aggregates_complete` with each image's number of raw ratings and the rating cutoff.

    PostgreSQL: one statement scans the ratings once (count, max id and newest time per image in a CTE)
    and joins the aggregates to it; one snapshot, so the counts are exactly those up to the cutoff."""
    from annotation.scoring.models import ImageAggregate, PoolItem, Rating

    perm = _dimension_perm(standard)
    if connection.vendor != "postgresql":
        cutoff, newest = ratings_newest_of_standard(standard=standard)
        counts = _rating_counts(standard, cutoff)
        aggs = [] if perm is None else _aggregates(standard, perm, _aggregate_rows(standard))
        return RatedAggregates(aggs, counts, cutoff, newest)
    sql = f"""
        WITH r AS (
            SELECT image_id, count(*) AS n, max(id) AS max_id, max(created_at) AS newest
            FROM {Rating._meta.db_table} WHERE standard_id = %s GROUP BY image_id
        )
        SELECT a.image_id, a.n_ratings,
               json_build_array(a.mos, a.sd, a.ci_half_width, a.psi, a.psi_se, a.n)::text,
               COALESCE(r.n, 0), (SELECT max(max_id) FROM r), (SELECT max(newest) FROM r)
        FROM {ImageAggregate._meta.db_table} a
        JOIN {PoolItem._meta.db_table} p ON p.image_id = a.image_id AND p.completed_at IS NOT NULL
        LEFT JOIN r ON r.image_id = a.image_id
        WHERE a.standard_id = %s
        ORDER BY a.image_id
    """  # table names come from the models; values are bound
    with connection.cursor() as cursor:
        cursor.execute(sql, [standard.pk, standard.pk])
        rows = cursor.fetchall()
    if not rows:
        cutoff, newest = ratings_newest_of_standard(standard=standard)
        return RatedAggregates([], {}, cutoff, newest)
    cutoff, newest = int(rows[0][4] or 0), rows[0][5]
    counts = {r[0]: r[3] for r in rows}
    if perm is None:
        return RatedAggregates([], counts, cutoff, newest)
    lists = json.loads("[" + ",".join(r[2] for r in rows) + "]")  # one parse for all rows
    agg_rows = (
        (r[0], mos, sd, ci, r[1], psi, psi_se, dim_n)
        for r, (mos, sd, ci, psi, psi_se, dim_n) in zip(rows, lists, strict=True)
    )
    return RatedAggregates(_aggregates(standard, perm, agg_rows), counts, cutoff, newest)


def standard_aggregates_rated(*, standard: Standard) -> RatedAggregates:
    """Another standard's complete aggregates *in its own dimension order* (on [0, 1]), with each image's
    number of raw ratings and the rating cutoff: what a release of that standard freezes. Portable ORM
    queries (such releases are small)."""

    cutoff, newest = ratings_newest_of_standard(standard=standard)
    counts = _rating_counts(standard, cutoff)
    n_dims = standard.dimensions.count()
    aggs = _aggregates(standard, list(range(n_dims)), _aggregate_rows(standard), n_dims)
    return RatedAggregates(aggs, counts, cutoff, newest)


def image_sources(*, image_ids: Iterable[str]) -> dict[str, str]:
    """image id -> the image's ``source`` ("" when none)."""
    from annotation.models import Image

    return dict(Image.objects.filter(sha256__in=list(image_ids)).values_list("sha256", "source"))


def release_rating_rows_commented(*, release: Release, max_rating_id: int) -> list[tuple]:
    """Raw ratings of a release's rated members (another standard's part), up to the frozen cutoff, as
    (image_id, rater_id, scores in the standard's order, dwell_ms, campaign_id, day, comments)."""
    from annotation.scoring.models import Rating

    rows = (
        Rating.objects.filter(
            standard_id=release.standard_id,
            id__lte=max_rating_id,
            image__release_members__release=release,
            image__release_members__part=ReleaseMember.Part.RATED,
        )
        .values_list(
            "image_id", "rater_id", "scores", "dwell_ms", "pool_item__campaign_id", "created_at", "comments"
        )
        .order_by("id")
    )
    return [
        (i, u, sc, d, c, t.astimezone(UTC).strftime("%Y-%m-%d"), cm or {}) for i, u, sc, d, c, t, cm in rows
    ]


def latest_aggregation_run(*, standard_key: str = STANDARD_KEY):
    from annotation.scoring.models import AggregationRun

    return AggregationRun.objects.filter(standard__key=standard_key).order_by("-created_at", "-id").first()


def ratings_newest_of_standard(*, standard: Standard) -> tuple[int, Any]:
    """(max rating id, newest rating time) of the standard's ratings ((0, None) without ratings)."""
    from annotation.scoring.models import Rating

    agg = Rating.objects.filter(standard=standard).aggregate(m=Max("id"), t=Max("created_at"))
    return int(agg["m"] or 0), agg["t"]


def release_rater_ids(
    *, release: Release, max_rating_id: int, part: str = ReleaseMember.Part.P50K
) -> list[int]:
    """Distinct raters of the release's rated members' ratings (50K, or ``part``) up to the cutoff."""
    from annotation.scoring.models import Rating

    return sorted(
        Rating.objects.filter(
            id__lte=max_rating_id,
            image__release_members__release=release,
            image__release_members__part=part,
        )
        .order_by()  # else Rating's default ordering joins the DISTINCT (one row per rating, not rater)
        .values_list("rater_id", flat=True)
        .distinct()
    )


def release_rating_rows(*, release: Release, max_rating_id: int) -> list[tuple]:
    """Raw ratings of a release's 50K members, up to the frozen cutoff, as
    (image_id, rater_id, scores in the standard's order, dwell_ms, campaign_id, day "YYYY-MM-DD").
    PostgreSQL: one join in SQL returning the scores as JSON text (450k rows in a few seconds)."""
    from annotation.scoring.models import PoolItem, Rating

    if connection.vendor == "postgresql":
        sql = f"""
            SELECT r.image_id, r.rater_id, r.scores::text, r.dwell_ms, p.campaign_id,
                   to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
            FROM {Rating._meta.db_table} r
            JOIN {ReleaseMember._meta.db_table} m ON m.image_id = r.image_id AND m.release_id = %s AND m.part = '50K'
            JOIN {PoolItem._meta.db_table} p ON p.id = r.pool_item_id
            WHERE r.id <= %s
        """  # table names come from the models; values are bound
        with connection.cursor() as cursor:
            cursor.execute(sql, [release.pk, max_rating_id])
            rows = cursor.fetchall()
        # one JSON parse of all score lists at once (450k ``json.loads`` calls cost seconds)
        scores = json.loads("[" + ",".join(r[2] for r in rows) + "]")
        return [(i, u, sc, d, c, day) for (i, u, _t, d, c, day), sc in zip(rows, scores, strict=True)]
    rows = (
        Rating.objects.filter(
            id__lte=max_rating_id,
            image__release_members__release=release,
            image__release_members__part=ReleaseMember.Part.P50K,
        )
        .values_list("image_id", "rater_id", "scores", "dwell_ms", "pool_item__campaign_id", "created_at")
        .order_by("id")
    )
    return [(i, u, sc, d, c, t.astimezone(UTC).strftime("%Y-%m-%d")) for i, u, sc, d, c, t in rows]


@dataclass(frozen=True)
class RatingColumns:
    """Raw ratings column by column: ``scores`` is a float array ``[R, D]`` in the standard's order and
    scale, NaN where the rater could not judge; ``campaign`` is the campaign id as text ("" for none)."""

    image_id: list[str]
    rater_id: list[int]
    scores: Any  # numpy float64 [R, D]
    dwell_ms: list[int | None]
    campaign: list[str]
    day: list[str]


def release_rating_columns(*, release: Release, max_rating_id: int, n_dims: int) -> RatingColumns:
    """:func:`release_rating_rows` as columns. PostgreSQL: the server joins the rows into one CSV text whose
    scores are already split into ``n_dims`` columns, parsed by pyarrow (no Python object per rating or
    score, instead of a tuple per row and a JSON parse of every score list)."""
    import numpy as np

    from annotation.scoring.models import PoolItem, Rating

    if connection.vendor != "postgresql":
        rows = release_rating_rows(release=release, max_rating_id=max_rating_id)
        scores = np.asarray(
            [[np.nan if v is None else float(v) for v in r[2]] for r in rows], dtype=np.float64
        ).reshape(len(rows), n_dims)
        return RatingColumns(
            image_id=[r[0] for r in rows],
            rater_id=[r[1] for r in rows],
            scores=scores,
            dwell_ms=[r[3] for r in rows],
            campaign=["" if r[4] is None else str(r[4]) for r in rows],
            day=[r[5] for r in rows],
        )
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # one text value: the server writes the CSV (scores straight from the JSON text, "" for null), so the
    # client gets one string instead of one message per rating; pyarrow parses it in C++
    score_cols = ", ".join(f"coalesce(r.scores->>{k}, '')" for k in range(int(n_dims)))
    sql = f"""
        SELECT string_agg(concat_ws(',', r.image_id, r.rater_id, coalesce(r.dwell_ms::text, ''),
                                    coalesce(p.campaign_id::text, ''),
                                    to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), {score_cols}),
                          E'\\n')
        FROM {Rating._meta.db_table} r
        JOIN {ReleaseMember._meta.db_table} m ON m.image_id = r.image_id AND m.release_id = %s AND m.part = '50K'
        JOIN {PoolItem._meta.db_table} p ON p.id = r.pool_item_id
        WHERE r.id <= %s
    """  # table names come from the models; values are bound
    with connection.cursor() as cursor:
        cursor.execute(sql, [release.pk, max_rating_id])
        text = cursor.fetchone()[0]
    buf = text.encode() if text else b""
    if not buf:
        return RatingColumns([], [], np.zeros((0, n_dims)), [], [], [])
    names = ["image_id", "rater_id", "dwell_ms", "campaign", "day", *(f"s{k}" for k in range(n_dims))]
    types = {"image_id": pa.string(), "rater_id": pa.int64(), "dwell_ms": pa.int64(), "campaign": pa.int64()}
    types |= {"day": pa.string()} | {f"s{k}": pa.float64() for k in range(n_dims)}
    table = pacsv.read_csv(
        pa.py_buffer(bytes(buf)),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(column_types=types),
    )
    n = table.num_rows
    scores = np.empty((n, n_dims), dtype=np.float64)
    for k in range(n_dims):
        scores[:, k] = table[f"s{k}"].to_numpy(zero_copy_only=False)
    return RatingColumns(
        image_id=table["image_id"].to_pylist(),
        rater_id=table["rater_id"].to_pylist(),
        scores=scores,
        dwell_ms=table["dwell_ms"].to_pylist(),
        campaign=["" if c is None else str(c) for c in table["campaign"].to_pylist()],
        day=table["day"].to_pylist(),
    )


def rater_quality_frozen(*, rater_ids: list[int], standard_key: str = STANDARD_KEY) -> dict[str, dict]:
    """SUREAL bias (delta) and inconsistency (upsilon) per rater id, in the HumanBeauty standard's order and on
    [0, 1] units, from the latest aggregation run (RaterQuality)."""
    from annotation.scoring.models import RaterQuality

    standard = Standard.objects.filter(key=standard_key).first()
    if standard is None:
        return {}
    order = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    if sorted(order) != sorted(DIMENSION_KEYS):
        return {}
    perm = [order.index(k) for k in DIMENSION_KEYS]
    span = standard.score_max - standard.score_min
    out = {}
    rows = RaterQuality.objects.filter(standard=standard, rater_id__in=rater_ids).values_list(
        "rater_id", "delta", "upsilon"
    )
    for rater_id, delta, upsilon in rows:
        d, u = _reorder(delta, perm), _reorder(upsilon, perm)
        out[str(rater_id)] = {
            "bias": [v / span for v in d] if d else None,
            "inconsistency": [v / span for v in u] if u else None,
        }
    return out


def qualification_facts(*, rater_ids: list[int]) -> dict[str, Any]:
    """How the contributing raters were certified (by exam through a protocol, or by an admin) and the
    funnel of every protocol that certified any of them, as of now (frozen into the release spec)."""
    from annotation.qualification.models import Enrollment, Transition
    from annotation.qualification.selectors import protocol_funnel

    enrollments = list(Enrollment.objects.filter(user_id__in=rater_ids).select_related("protocol"))
    first_cert: dict[int, str] = {}
    for enrollment_id, reason in (
        Transition.objects.filter(enrollment__in=enrollments, to_state=Enrollment.State.CERTIFIED)
        .order_by("created_at", "id")
        .values_list("enrollment_id", "reason")
    ):
        first_cert.setdefault(enrollment_id, reason)
    how: dict[str, int] = {}
    per_protocol: dict[int, int] = {}
    protocols = {}
    for e in enrollments:
        reason = first_cert.get(e.pk)
        kind = (
            "not certified"
            if reason is None
            else ("admin override" if reason.startswith("admin") else "exam")
        )
        how[kind] = how.get(kind, 0) + 1
        if kind == "exam" and e.protocol is not None:
            per_protocol[e.protocol_id] = per_protocol.get(e.protocol_id, 0) + 1
            protocols[e.protocol_id] = e.protocol
    missing = len(set(rater_ids) - {e.user_id for e in enrollments})
    if missing:
        how["no enrollment"] = missing
    out = []
    for pid in sorted(protocols):
        p = protocols[pid]
        funnel = protocol_funnel(protocol=p)
        funnel.pop("protocol", None)
        out.append(
            {
                "name": p.name,
                "cohort": getattr(p, "cohort", ""),
                "raters_in_release": per_protocol[pid],
                "parameters": {
                    k: getattr(p, k)
                    for k in ("n_training", "n_scored", "n_iterations")
                    if isinstance(getattr(p, k, None), int)
                },
                "funnel": funnel,
            }
        )
    return {"certified_by": dict(sorted(how.items())), "protocols": out}


def detector_parameters(*, detector_versions: list[str]) -> dict[str, Any]:
    """Each detector version's parameters (parsed from the version string) and the rule thresholds its
    kept verdicts were made with."""
    out: dict[str, Any] = {}
    for version in sorted(detector_versions):
        parts = version.split(";")
        params: dict[str, Any] = {"package": parts[0]}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            try:
                params[key] = float(value) if key != "weights-sha256" else value
            except ValueError:
                params[key] = value
        thresholds = FaceDetection.objects.filter(detector_version=version, kept=True).values_list(
            "thresholds", flat=True
        )
        params["rule_thresholds"] = sorted(
            {json.dumps(t, sort_keys=True) for t in thresholds.distinct()[:20] if t}
        )
        params["rule_thresholds"] = [json.loads(t) for t in params["rule_thresholds"]]
        params["rule"] = "keep iff exactly one face with score >= confidence and shorter box side >= min size"
        out[version] = params
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
    """Membership/label/split differences between two releases (from their frozen members). Releases of
    different standards share no lineage: comparing them is refused (400)."""
    if release_standard_key(a) != release_standard_key(b):
        raise ApplicationError(
            f"{a.version} and {b.version} are releases of different standards "
            f"({release_standard_key(a)}, {release_standard_key(b)}): compare releases of one standard."
        )

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
