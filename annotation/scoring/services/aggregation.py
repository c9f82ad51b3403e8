"""Full re-aggregation of a standard's ratings (Celery job ``scoring.reaggregate``).

Loads every raw rating once (long format), then calls the pure module :mod:`annotation.aggregation` for
the per-image MOS/SD/n/CI, the SUREAL alternating-projection estimate (ψ per image, Δ/υ per rater, per
dimension), rater screening (υ above the 95th percentile; BT.500 as a report only), per-rater LOO SRCC
and the reliability report (split-half SRCC + Spearman-Brown, ICC(1,1), ICC(1,k), Krippendorff α).
Results replace the previous ones (idempotent); no math lives here.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from annotation import aggregation
from annotation.models import Dimension, Standard, User
from annotation.services.jobs import job_create, job_enqueue, job_running, job_succeed

from ..models import AggregationRun, ImageAggregate, RaterQuality, Rating

BATCH = 2000


def _f(x: float) -> float | None:
    return round(float(x), 6) if np.isfinite(x) else None


def _col(arr: np.ndarray) -> list[float | None]:
    return [_f(v) for v in arr]


def _long_pg(
    standard: Standard, n_dims: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[int]]:
    """PostgreSQL fast path: the ids and every score vector come back as two text blobs (one row) parsed by
    numpy; no per-rating Python objects. Row order is the same in both (``ORDER BY id``)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT string_agg(pool_item_id::text || ',' || rater_id::text, ',' ORDER BY id), "
            "string_agg(scores::text, ',' ORDER BY id) FROM scoring_rating WHERE standard_id = %s",
            [standard.pk],
        )
        id_blob, score_blob = cur.fetchone()
        if not id_blob:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_dims)), [], []
        pairs = np.fromstring(id_blob, dtype=np.int64, sep=",").reshape(-1, 2)
        text = score_blob.replace("[", "").replace("]", "").replace("null", "nan")
        s = np.fromstring(text, dtype=np.float64, sep=",")
        if s.size != pairs.shape[0] * n_dims:
            raise ValueError(
                f"scores have {s.size} values for {pairs.shape[0]} ratings x {n_dims} dimensions"
            )
        items, img = np.unique(pairs[:, 0], return_inverse=True)
        raters, rat = np.unique(pairs[:, 1], return_inverse=True)
        cur.execute("SELECT id, image_id FROM scoring_poolitem WHERE id = ANY(%s)", [items.tolist()])
        sha_of = dict(cur.fetchall())
    return (img.astype(np.int64), rat.astype(np.int64), s.reshape(-1, n_dims), [sha_of[int(i)] for i in items],
            raters.astype(np.int64).tolist())  # fmt: skip


def _indexed(
    images: tuple, rater_ids: tuple, s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[int]]:
    image_ids, img = np.unique(np.asarray(images, dtype=object).astype(str), return_inverse=True)
    raters, rat = np.unique(np.asarray(rater_ids, dtype=np.int64), return_inverse=True)
    return (
        img.astype(np.int64),
        rat.astype(np.int64),
        s,
        [str(x) for x in image_ids],
        [int(x) for x in raters],
    )


def ratings_long(*, standard: Standard) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[int]]:
    """All ratings of ``standard`` as (image_index, rater_index, scores [R, D], image ids, rater ids)."""
    n_dims = Dimension.objects.filter(standard=standard).count()
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_dims)), [], [])
    if connection.vendor == "postgresql":
        return _long_pg(standard, n_dims)
    rows = list(
        Rating.objects.filter(standard=standard).order_by("id").values_list("image_id", "rater_id", "scores")
    )
    if not rows:
        return empty
    images, rater_ids, scores = zip(*rows, strict=True)
    return _indexed(images, rater_ids, np.array(scores, dtype=np.float64))  # None ("can't judge") -> NaN


def scoring_reaggregate(
    *, standard: Standard, job_id: int | None = None, report: Any = None, write_images: bool = True
) -> AggregationRun:
    started = time.perf_counter()
    keys = list(Dimension.objects.filter(standard=standard).order_by("order").values_list("key", flat=True))
    timings: dict[str, float] = {}
    mark = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - mark[0], 3)
        mark[0] = now

    img, rat, s, image_ids, rater_ids = ratings_long(standard=standard)
    n_images, n_raters = len(image_ids), len(rater_ids)
    lap("load")
    if report:
        report(1, total=5, message=f"{len(img)} ratings loaded")
    stats = aggregation.image_stats(img, s, n_images)
    ap = aggregation.sureal_ap_all(img, rat, s, n_images, n_raters) if n_raters else []
    lap("mos_and_sureal")
    if report:
        report(2, total=5, message="SUREAL done")
    psi = np.stack([r.psi for r in ap], axis=1) if ap else np.zeros((n_images, len(keys)))
    psi_se = np.stack([r.psi_se for r in ap], axis=1) if ap else np.zeros((n_images, len(keys)))
    delta = np.stack([r.delta for r in ap], axis=1) if ap else np.zeros((n_raters, len(keys)))
    upsilon = np.stack([r.upsilon for r in ap], axis=1) if ap else np.zeros((n_raters, len(keys)))
    loo = (
        np.stack([aggregation.rater_loo_srcc(img, rat, s[:, k], n_raters) for k in range(s.shape[1])], axis=1)
        if n_raters
        else np.zeros((0, len(keys)))
    )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_upsilon = (
            np.nanmean(np.where(np.isfinite(upsilon), upsilon, np.nan), axis=1) if n_raters else upsilon
        )
    flagged = set(aggregation.inconsistency_screening(mean_upsilon, 95).tolist()) if n_raters else set()
    bt500 = aggregation.bt500_screening(img, rat, s, n_raters) if n_raters else {"rejected": []}
    reliability = aggregation.reliability_report(img, rat, s, dimension_keys=keys, rng=0) if len(img) else {}
    lap("screening_loo_reliability")
    if report:
        report(3, total=5, message="screening and reliability done")
    gold_errors = _gold_errors(rater_ids)
    with transaction.atomic():
        run = AggregationRun.objects.create(
            standard=standard,
            job_id=job_id,
            n_images=n_images,
            n_raters=n_raters,
            n_ratings=len(img),
            reliability=reliability,
            screening={
                "upsilon_p95_flagged": [rater_ids[i] for i in sorted(flagged)],
                "bt500": {
                    k: v
                    for k, v in bt500.items()
                    if k in ("method", "normalise", "n_presentations", "share_normal_kurtosis")
                }
                | {"rejected": [rater_ids[i] for i in bt500.get("rejected", [])]},
            },
        )
        if write_images and n_images:
            _write_images(standard, image_ids, stats, psi, psi_se)
        lap("write_images")
        if report:
            report(4, total=5, message="image aggregates written")
        bt_rejected = set(bt500.get("rejected", []))
        names = dict(User.objects.filter(pk__in=rater_ids).values_list("pk", "username"))
        counts = np.bincount(rat, minlength=n_raters) if n_raters else np.zeros(0, np.int64)
        quality = []
        for i, rid in enumerate(rater_ids):
            if rid not in names:
                continue
            flags = []
            if i in flagged:
                flags.append("inconsistency υ above the 95th percentile of raters")
            if i in bt_rejected:
                flags.append("BT.500 screening (report only)")
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                md, ml = np.nanmean(delta[i]), np.nanmean(loo[i])
            quality.append(
                RaterQuality(
                    rater_id=rid,
                    standard=standard,
                    run=run,
                    n_ratings=int(counts[i]),
                    delta=_col(delta[i]),
                    upsilon=_col(upsilon[i]),
                    loo_srcc=_col(loo[i]),
                    mean_delta=_f(md),
                    mean_upsilon=_f(mean_upsilon[i]),
                    mean_loo_srcc=_f(ml),
                    gold_error=gold_errors.get(rid),
                    flagged=i in flagged,
                    flags=flags,
                )
            )
        RaterQuality.objects.filter(standard=standard).exclude(rater_id__in=rater_ids).delete()
        RaterQuality.objects.bulk_create(
            quality,
            batch_size=BATCH,
            update_conflicts=True,
            unique_fields=["rater", "standard"],
            update_fields=[
                "run",
                "n_ratings",
                "delta",
                "upsilon",
                "loo_srcc",
                "mean_delta",
                "mean_upsilon",
                "mean_loo_srcc",
                "gold_error",
                "flagged",
                "flags",
            ],
        )
        lap("write_raters")
        run.seconds = round(time.perf_counter() - started, 3)
        run.timings = timings
        run.save(update_fields=["seconds", "timings"])
    return run


def _json_rows(arr: np.ndarray, digits: int = 6) -> list[str]:
    """One JSON list per row, NaN -> null, rounded (vectorised; no per-value Python work)."""
    obj = np.where(np.isfinite(arr), np.round(arr, digits), None) if arr.dtype.kind == "f" else arr
    return [json.dumps(row) for row in obj.tolist()]


_AGG_COLUMNS = (
    "image_id", "standard_id", "n_ratings", "mos", "sd", "n", "ci_half_width", "max_ci_half_width", "psi",
    "psi_se", "updated_at",
)  # fmt: skip


def _write_images_pg(
    standard: Standard,
    image_ids: list[str],
    stats: aggregation.ImageStats,
    psi: np.ndarray,
    psi_se: np.ndarray,
) -> None:
    """PostgreSQL fast path: COPY into a temporary table, then one INSERT … ON CONFLICT DO UPDATE."""
    now = timezone.now()
    mos, sd, ci = _json_rows(stats.mos), _json_rows(stats.sd), _json_rows(stats.ci_half_width)
    n, p, pse = _json_rows(stats.n.astype(np.int64)), _json_rows(psi), _json_rows(psi_se)
    n_ratings = stats.n_ratings.tolist()
    max_ci = [_f(v) for v in stats.max_ci_half_width]
    table = ImageAggregate._meta.db_table
    columns = ", ".join(_AGG_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _AGG_COLUMNS[1:])
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS tmp_agg")
        cur.execute(f"CREATE TEMP TABLE tmp_agg (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        with cur.cursor.copy(f"COPY tmp_agg ({columns}) FROM STDIN") as cp:
            for j, sha in enumerate(image_ids):
                cp.write_row(
                    (sha, standard.pk, n_ratings[j], mos[j], sd[j], n[j], ci[j], max_ci[j], p[j], pse[j], now)
                )
        cur.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM tmp_agg ON CONFLICT (image_id) DO UPDATE SET {updates}"
        )


def _write_images(
    standard: Standard,
    image_ids: list[str],
    stats: aggregation.ImageStats,
    psi: np.ndarray,
    psi_se: np.ndarray,
) -> None:
    if connection.vendor == "postgresql":
        _write_images_pg(standard, image_ids, stats, psi, psi_se)
        return
    n_ratings = stats.n_ratings
    max_ci = stats.max_ci_half_width
    objs = [
        ImageAggregate(
            image_id=sha,
            standard=standard,
            n_ratings=int(n_ratings[j]),
            mos=_col(stats.mos[j]),
            sd=_col(stats.sd[j]),
            n=[int(v) for v in stats.n[j]],
            ci_half_width=_col(stats.ci_half_width[j]),
            max_ci_half_width=_f(max_ci[j]),
            psi=_col(psi[j]),
            psi_se=_col(psi_se[j]),
        )
        for j, sha in enumerate(image_ids)
    ]
    ImageAggregate.objects.bulk_create(
        objs,
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["image"],
        update_fields=[
            "standard",
            "n_ratings",
            "mos",
            "sd",
            "n",
            "ci_half_width",
            "max_ci_half_width",
            "psi",
            "psi_se",
            "updated_at",
        ],
    )


def _gold_errors(rater_ids: list[int]) -> dict[int, float | None]:
    """Hidden-gold mean absolute error per rater, when the qualification contract offers it."""
    try:
        from annotation.qualification import contract
    except ImportError:  # pragma: no cover
        return {}
    fn = getattr(contract, "hidden_gold_errors", None)
    try:
        if fn is not None:
            return dict(fn(rater_ids=rater_ids))
        # Fallback until the contract exposes it: mean absolute error of answered hidden-gold items.
        from django.db.models import Avg

        from annotation.qualification.models import HiddenGoldExposure

        rows = (
            HiddenGoldExposure.objects.filter(rater_id__in=rater_ids, abs_error__isnull=False)
            .order_by()
            .values("rater_id")
            .annotate(e=Avg("abs_error"))
        )
        return {r["rater_id"]: _f(r["e"]) for r in rows}
    except Exception:
        return {}


def scoring_reaggregate_start(*, standard: Standard, created_by: User | None) -> Any:
    from ..tasks import reaggregate_task

    with transaction.atomic():
        job = job_create(kind="scoring.reaggregate", params={"standard": standard.key}, created_by=created_by)
        job_enqueue(job=job, task=reaggregate_task, args=(standard.pk,))
    return job


def scoring_reaggregate_job(*, job_id: int, standard_id: int) -> None:
    with job_running(job_id=job_id, total=5, message="loading ratings") as report:
        standard = Standard.objects.filter(pk=standard_id).first()
        if standard is None:
            job_succeed(job_id=job_id, result={"missing": True}, message="standard gone")
            return
        run = scoring_reaggregate(standard=standard, job_id=job_id, report=report)
        report(5, total=5, message="done")
        job_succeed(
            job_id=job_id,
            result={
                "run": run.pk,
                "n_images": run.n_images,
                "n_raters": run.n_raters,
                "n_ratings": run.n_ratings,
                "seconds": run.seconds,
            },
        )
