"""Full re-aggregation of a standard's ratings (Celery job ``scoring.reaggregate``).

Loads every raw rating once (long format), then calls the pure module :mod:`annotation.aggregation` for
the per-image MOS/SD/n/CI, the SUREAL alternating-projection estimate (ψ with its t-CI per image, Δ/υ per
rater, per dimension), per-rater LOO SRCC, rater screening (υ significantly above twice the median, LOO
SRCC below half the median: a report with reasons, never a ban) and the reliability report (split-half
SRCC + Spearman-Brown, ICC(1,1), ICC(1,k), Krippendorff α). SUREAL's convergence per dimension is kept
on the run (a fit that did not converge is named there, not hidden). Results replace the previous ones
(idempotent); no math lives here.

Performance design (50k images x 9 ratings x 12 dimensions in a few seconds, see ``docs/aggregation.md``):
PostgreSQL returns all ratings as one text blob that pyarrow's CSV reader parses; screening, LOO SRCC and
reliability (and SUREAL for 3 of the dimensions) run in a forked worker process while this process fits
SUREAL and writes the image rows (whose server-side work runs on PostgreSQL's core); the image rows go to
the server as one vectorised COPY payload. Inside a Celery prefork child (a daemonic process, which may not
fork) a thread does that work instead; numpy releases the GIL, so it overlaps almost as well.
``workers=1`` runs everything in this thread; the results are the same either way.
"""

from __future__ import annotations

import io
import multiprocessing
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import pyarrow as pa
from django.db import connection, transaction
from django.utils import timezone
from pyarrow import csv as pa_csv

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
    """PostgreSQL fast path: every rating comes back as one CSV line ``id,pool_item,rater,s1,...,sD`` of a
    single text value (no per-row protocol or Python objects), parsed by pyarrow's multi-threaded CSV reader.
    Rows are put in ``id`` order (as ``ORDER BY id`` would, without a server-side sort)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT string_agg(id::text || ',' || pool_item_id::text || ',' || rater_id::text || ',' "
            "|| scores::text, E'\\n') FROM scoring_rating WHERE standard_id = %s",
            [standard.pk],
        )
        (blob,) = cur.fetchone()
        if not blob:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_dims)), [], []
        n_cols = 3 + n_dims
        try:
            table = pa_csv.read_csv(
                io.BytesIO(blob.encode().translate(None, b"[] ")),  # "1,2,3,[0.5, null]" -> "1,2,3,0.5,null"
                read_options=pa_csv.ReadOptions(column_names=[f"c{k}" for k in range(n_cols)]),
                convert_options=pa_csv.ConvertOptions(
                    null_values=["null"],
                    column_types={f"c{k}": pa.int64() if k < 3 else pa.float64() for k in range(n_cols)},
                ),
            )
        except pa.ArrowInvalid as exc:
            raise ValueError(f"every rating must have {n_dims} scores: {exc}") from exc
        cols = [table.column(k).to_numpy() for k in range(n_cols)]
        order = np.argsort(cols[0])
        s = np.column_stack(cols[3:])[order] if n_dims else np.zeros((order.size, 0))
        items, img = np.unique(cols[1][order], return_inverse=True)
        raters, rat = np.unique(cols[2][order], return_inverse=True)
        cur.execute("SELECT id, image_id FROM scoring_poolitem WHERE id = ANY(%s)", [items.tolist()])
        sha_of = dict(cur.fetchall())
    return (img.astype(np.int64), rat.astype(np.int64), s, [sha_of[int(i)] for i in items],
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


def _screening_and_reliability(
    img: np.ndarray, rat: np.ndarray, s: np.ndarray, n_raters: int, keys: list[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], float]:
    """Per-rater LOO SRCC ``[n_raters, D]``, the spread of each rater's own scores ``[n_raters]``, the
    reliability report and the seconds taken (pure math, no DB access; runs in the background worker)."""
    started = time.perf_counter()
    loo = aggregation.rater_loo_srcc_all(img, rat, s, n_raters) if n_raters else np.zeros((0, len(keys)))
    spread = aggregation.rater_score_spread(rat, s, n_raters) if n_raters else np.zeros(0)
    reliability = aggregation.reliability_report(img, rat, s, dimension_keys=keys, rng=0) if len(img) else {}
    return loo, spread, reliability, time.perf_counter() - started


def scoring_reaggregate(
    *,
    standard: Standard,
    job_id: int | None = None,
    report: Any = None,
    write_images: bool = True,
    workers: int = 2,
) -> AggregationRun:
    """Recompute every aggregate of ``standard`` from the raw ratings and replace the stored ones.

    ``workers >= 2`` computes screening, LOO SRCC and reliability in a background worker (see
    :func:`_background`) while this thread fits SUREAL and writes the image rows; ``workers=1`` does it
    all here. Same results either way (the math is deterministic, ``rng=0``). ``run.timings`` holds
    seconds per stage as seen by this thread;
    ``screening_loo_reliability`` is the wait for the worker after the image writes and
    ``screening_loo_reliability_compute`` the worker's own time (overlapped with the stages before it).
    """
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
    pool, sureal_tail, background = _background(workers, img, rat, s, n_images, n_raters, keys)
    with pool:
        stats = aggregation.image_stats(img, s, n_images)
        n_here = s.shape[1] - (_sureal_tail_dims(s.shape[1], n_raters) if sureal_tail else 0)
        ap = aggregation.sureal_ap_all(img, rat, s[:, :n_here], n_images, n_raters) if n_raters else []
        if n_here < s.shape[1]:
            try:
                ap += sureal_tail.result()
            except BrokenProcessPool:  # the worker process died (e.g. killed): fit them here instead
                ap += aggregation.sureal_ap_all(img, rat, s[:, n_here:], n_images, n_raters)
        lap("mos_and_sureal")
        if report:
            report(2, total=5, message="SUREAL done")
        psi, psi_se, psi_ci = (
            np.stack([getattr(r, name) for r in ap], axis=1) if ap else np.zeros((n_images, len(keys)))
            for name in ("psi", "psi_se", "psi_ci95")
        )
        delta, upsilon, upsilon_low = (
            np.stack([getattr(r, name) for r in ap], axis=1) if ap else np.zeros((n_raters, len(keys)))
            for name in ("delta", "upsilon", "upsilon_ci_low")
        )
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_upsilon = (
                np.nanmean(np.where(np.isfinite(upsilon), upsilon, np.nan), axis=1) if n_raters else upsilon
            )
        gold_errors = _gold_errors(rater_ids)
        with transaction.atomic():
            if write_images and n_images:
                _write_images(standard, image_ids, stats, psi, psi_se, psi_ci)
            lap("write_images")
            if report:
                report(3, total=5, message="image aggregates written")
            try:
                loo, spread, reliability, background_s = background.result()
            except BrokenProcessPool:  # the worker process died (e.g. killed): compute here instead
                loo, spread, reliability, background_s = _screening_and_reliability(
                    img, rat, s, n_raters, keys
                )
            lap("screening_loo_reliability")
            timings["screening_loo_reliability_compute"] = round(background_s, 3)
            if report:
                report(4, total=5, message="screening and reliability done")
            counts = np.bincount(rat, minlength=n_raters) if n_raters else np.zeros(0, np.int64)
            screen = (
                aggregation.screen_raters(upsilon, upsilon_low, loo, spread, counts) if n_raters else None
            )
            run = AggregationRun.objects.create(
                standard=standard,
                job_id=job_id,
                n_images=n_images,
                n_raters=n_raters,
                n_ratings=len(img),
                reliability=reliability,
                screening=_run_screening(screen, rater_ids, ap, keys),
            )
            names = dict(User.objects.filter(pk__in=rater_ids).values_list("pk", "username"))
            quality = []
            for i, rid in enumerate(rater_ids):
                if rid not in names:
                    continue
                assert screen is not None
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
                        flagged=bool(screen.flagged[i]),
                        flags=screen.reasons(i),
                        screening=_rater_screening(screen, i),
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
                    "screening",
                ],
            )
            lap("write_raters")
            run.seconds = round(time.perf_counter() - started, 3)
            run.timings = timings
            run.save(update_fields=["seconds", "timings"])
    return run


def _rater_screening(screen: aggregation.RaterScreening, i: int) -> dict[str, Any]:
    """One rater's screening as JSON: each rule's value, threshold and whether it fired."""
    return {
        "evaluated": bool(screen.evaluated[i]),
        "inconsistency": {
            "upsilon": _f(screen.upsilon[i]),
            "upsilon_low95": _f(screen.upsilon_low[i]),
            "threshold": _f(screen.upsilon_threshold),
            "fired": bool(screen.inconsistent[i]),
        },
        "agreement": {
            "loo_srcc": _f(screen.loo_srcc[i]),
            "threshold": _f(screen.loo_threshold),
            "fired": bool(screen.low_agreement[i]),
        },
        "spread": {
            "sd": _f(screen.spread[i]),
            "median": _f(screen.spread_median),
            "narrow": bool(screen.narrow_range[i]),
        },
        "pattern": screen.pattern(i),
    }


def _run_screening(
    screen: aggregation.RaterScreening | None,
    rater_ids: list[int],
    fits: list[aggregation.SurealResult],
    keys: list[str],
) -> dict[str, Any]:
    """The run's screening summary: the rules with their medians and thresholds, who each flagged, and
    SUREAL's convergence per dimension (``unconverged`` names every dimension that hit the budget)."""
    sureal = {
        key: {"n_iter": fit.n_iter, "converged": fit.converged, "upsilon_floor": _f(fit.upsilon_floor)}
        for key, fit in zip(keys, fits, strict=False)
    }
    out: dict[str, Any] = {
        "sureal": sureal,
        "sureal_max_iter": aggregation.SUREAL_MAX_ITER,
        "unconverged": [key for key, v in sureal.items() if not v["converged"]],
    }
    if screen is None:
        return out | {"flagged": []}
    return out | {
        "rules": {
            "inconsistency": "95 % lower bound of υ above twice the median υ",
            "agreement": "LOO SRCC below half the median LOO SRCC",
            "min_ratings": aggregation.SUREAL_MIN_RATINGS_FOR_UPSILON,
        },
        "upsilon_median": _f(screen.upsilon_median),
        "upsilon_threshold": _f(screen.upsilon_threshold),
        "loo_median": _f(screen.loo_median),
        "loo_threshold": _f(screen.loo_threshold),
        "n_evaluated": int(screen.evaluated.sum()),
        "flagged": [rater_ids[i] for i in np.flatnonzero(screen.flagged).tolist()],
        "inconsistent": [rater_ids[i] for i in np.flatnonzero(screen.inconsistent).tolist()],
        "low_agreement": [rater_ids[i] for i in np.flatnonzero(screen.low_agreement).tolist()],
    }


_INPUTS: tuple[Any, ...] = ()  # inputs of the background calls, handed to a forked worker without pickling
_SUREAL_TAIL = 3  # SUREAL dimensions fitted by the forked worker first, to balance the two processes


def _keep_inputs(*args: Any) -> None:
    global _INPUTS
    _INPUTS = args


def _sureal_tail_dims(n_dims: int, n_raters: int) -> int:
    return _SUREAL_TAIL if n_raters and n_dims > _SUREAL_TAIL else 0


def _sureal_tail_of_inputs() -> list[aggregation.SurealResult]:
    img, rat, s, n_images, n_raters, _ = _INPUTS
    n_tail = _sureal_tail_dims(s.shape[1], n_raters)
    return (
        aggregation.sureal_ap_all(img, rat, s[:, s.shape[1] - n_tail :], n_images, n_raters) if n_tail else []
    )


def _screening_and_reliability_of_inputs() -> tuple[np.ndarray, np.ndarray, dict[str, Any], float]:
    img, rat, s, _, n_raters, keys = _INPUTS
    return _screening_and_reliability(img, rat, s, n_raters, keys)


def _background(
    workers: int,
    img: np.ndarray,
    rat: np.ndarray,
    s: np.ndarray,
    n_images: int,
    n_raters: int,
    keys: list[str],
) -> tuple[Any, Any, Any]:
    """(executor, SUREAL future, screening future) for the work beside SUREAL and the writes.

    Where ``fork`` exists: one forked worker process (no GIL shared with this process; the inputs are
    inherited, not pickled) that first fits SUREAL for the last ``_SUREAL_TAIL`` dimensions (this process
    fits the others; each dimension is an independent fit, so the split changes nothing) and then computes
    :func:`_screening_and_reliability`. Otherwise a thread for the latter, or ``_Serial`` for ``workers=1``;
    the SUREAL future is then unused. Use the executor as a context manager.
    """
    args = (img, rat, s, n_raters, keys)
    if workers >= 2 and "fork" in multiprocessing.get_all_start_methods():
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_keep_inputs,
            initargs=(img, rat, s, n_images, n_raters, keys),
        )
        try:
            tail = pool.submit(_sureal_tail_of_inputs)
            return pool, tail, pool.submit(_screening_and_reliability_of_inputs)
        except (AssertionError, OSError, RuntimeError):  # e.g. a daemonic process may not fork children
            pool.shutdown()
    serial: Any = _Serial() if workers < 2 else ThreadPoolExecutor(max_workers=1)
    return serial, None, serial.submit(_screening_and_reliability, *args)


class _Serial:
    """Stand-in for the worker thread when ``workers=1``: the call runs when its result is asked for."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Serial:
        self._call = (fn, args)
        return self

    def result(self) -> Any:
        fn, args = self._call
        return fn(*args)


def _three_digit_tables() -> dict[str, np.ndarray]:
    """``[1000, 3]`` ASCII tables for a 3-digit group g: zero-padded, leading zeros blank (0 bytes),
    the same with "0" for g = 0, trailing zeros blank, the same with "0" for g = 0."""
    cells = {
        "full": [f"{g:03d}" for g in range(1000)],
        "lead": [f"{g:d}".rjust(3, "\0") if g else "\0\0\0" for g in range(1000)],
        "lead0": [f"{g:d}".rjust(3, "\0") for g in range(1000)],
        "trail": [f"{g:03d}".rstrip("0").ljust(3, "\0") for g in range(1000)],
        "trail0": [(f"{g:03d}".rstrip("0") or "0").ljust(3, "\0") for g in range(1000)],
    }
    return {k: np.frombuffer("".join(v).encode(), np.uint8).reshape(1000, 3) for k, v in cells.items()}


_DIGITS3 = _three_digit_tables()


def _int_text(v: np.ndarray) -> np.ndarray:
    """Decimal text of non-negative integers ``v [N]`` (floats holding integers < 2**53) as ``[N, W]`` uint8,
    leading zeros as 0 bytes (padding). Three digits at a time from lookup tables: a few float ops per value,
    no int64 division (which numpy does not vectorise)."""
    top = float(v.max()) if v.size else 0.0
    n_groups = 1
    while top >= 1000.0**n_groups:
        n_groups += 1
    parts, above = [], np.zeros(v.shape, bool)
    for g in range(n_groups - 1, -1, -1):
        hi = np.floor(v / 1000.0 ** (g + 1))
        group = (np.floor(v / 1000.0**g) - 1000.0 * hi).astype(np.intp)
        above |= hi > 0
        table = _DIGITS3["lead0"] if g == 0 else _DIGITS3["lead"]
        parts.append(np.where(above[:, None], _DIGITS3["full"][group], table[group]))
    return np.concatenate(parts, axis=1)


def _number_text(x: np.ndarray, *, null: bytes) -> np.ndarray:
    """Text of numbers ``x [N]`` as fixed-width ``[N, W]`` uint8 rows, 0 bytes being padding.

    Floats are rounded to 6 decimals and written like ``json.dumps(np.round(x, 6))`` without the exponent
    form (shortest digits, at least one decimal, e.g. ``0.5``, ``1.0``, ``0.00001``); PostgreSQL stores the
    same numeric either way. Integers are written as such. Non-finite values become ``null``.
    """
    if x.dtype.kind in "iu":
        if x.size and x.min() < 0:
            raise ValueError("negative counts")
        return _int_text(x.astype(np.float64))
    ok = np.isfinite(x)
    q = np.rint(np.where(ok, x, 0.0) * 1e6)  # np.round(x, 6) = rint(x * 1e6) / 1e6
    if q.size and np.abs(q).max() >= 2.0**53:
        raise ValueError("value too large for fixed-point text")
    a = np.abs(q)
    ip = np.floor(a / 1e6)
    fp = a - 1e6 * ip  # exact: integers below 2**53
    f1 = np.floor(fp / 1000.0).astype(np.intp)
    f2 = (fp - 1000.0 * f1).astype(np.intp)
    last = (f2 == 0)[:, None]  # then the first three decimals end the number (keep at least one)
    frac_hi = np.where(last, _DIGITS3["trail0"][f1], _DIGITS3["full"][f1])
    sign = np.where(q < 0, ord("-"), 0).astype(np.uint8)[:, None]
    dot = np.full((x.size, 1), ord("."), np.uint8)
    out = np.concatenate([sign, _int_text(ip), dot, frac_hi, _DIGITS3["trail"][f2]], axis=1)
    if out.shape[1] < len(null):
        out = np.pad(out, ((0, 0), (0, len(null) - out.shape[1])))
    out[~ok] = 0
    out[~ok, : len(null)] = np.frombuffer(null, np.uint8)
    return out


def _json_arrays(arr: np.ndarray) -> np.ndarray:
    """One JSON list per row of ``arr [N, D]`` (``[0.5,null,1.0]``) as fixed-width uint8 rows with padding."""
    n, d = arr.shape
    if d == 0:
        return np.tile(np.frombuffer(b"[]", np.uint8), (n, 1))
    cells = _number_text(arr.ravel(), null=b"null").reshape(n, d, -1)
    sep = np.full((n, d, 1), ord(","), np.uint8)
    sep[:, -1] = ord("]")
    body = np.concatenate([cells, sep], axis=2).reshape(n, -1)
    return np.concatenate([np.full((n, 1), ord("["), np.uint8), body], axis=1)


def _copy_text(fields: list[np.ndarray]) -> bytes:
    """COPY text payload from per-row fixed-width uint8 fields: tab-separated, one line per row, padding out."""
    n = fields[0].shape[0]
    tab = np.full((n, 1), ord("\t"), np.uint8)
    parts = [p for f in fields for p in (f, tab)]
    parts[-1] = np.full((n, 1), ord("\n"), np.uint8)
    flat = np.concatenate(parts, axis=1).ravel()
    return flat[flat != 0].tobytes()


_COPY_CHUNK = 5000  # image rows per COPY write

_AGG_COLUMNS = (
    "image_id", "standard_id", "n_ratings", "mos", "sd", "n", "ci_half_width", "max_ci_half_width", "psi",
    "psi_se", "psi_ci_half_width", "updated_at",
)  # fmt: skip


def _write_images_pg(
    standard: Standard,
    image_ids: list[str],
    stats: aggregation.ImageStats,
    psi: np.ndarray,
    psi_se: np.ndarray,
    psi_ci: np.ndarray,
) -> None:
    """PostgreSQL fast path: the rows are formatted with numpy as COPY text (no per-value Python objects) in
    chunks, so the server parses one chunk while the next is formatted, copied into a temporary table, then
    one INSERT … ON CONFLICT DO UPDATE."""
    if any(c in "".join(image_ids) for c in "\\\t\n\r"):
        raise ValueError("image ids must not contain COPY control characters")
    ids = np.array(image_ids, dtype=np.bytes_)
    stamp = np.frombuffer(timezone.now().isoformat().encode(), np.uint8)
    n_ratings, max_ci = stats.n_ratings.astype(np.int64), stats.max_ci_half_width
    n = stats.n.astype(np.int64)

    def payload(rows: slice) -> bytes:
        n_rows = len(ids[rows])
        return _copy_text(
            [
                ids[rows].view(np.uint8).reshape(n_rows, -1),
                _number_text(np.full(n_rows, standard.pk, np.int64), null=b""),
                _number_text(n_ratings[rows], null=b""),
                _json_arrays(stats.mos[rows]),
                _json_arrays(stats.sd[rows]),
                _json_arrays(n[rows]),
                _json_arrays(stats.ci_half_width[rows]),
                _number_text(max_ci[rows], null=b"\\N"),
                _json_arrays(psi[rows]),
                _json_arrays(psi_se[rows]),
                _json_arrays(psi_ci[rows]),
                np.tile(stamp, (n_rows, 1)),
            ]
        )

    table = ImageAggregate._meta.db_table
    columns = ", ".join(_AGG_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _AGG_COLUMNS[1:])
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS tmp_agg")
        cur.execute(f"CREATE TEMP TABLE tmp_agg (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        with cur.cursor.copy(f"COPY tmp_agg ({columns}) FROM STDIN") as cp:
            for start in range(0, len(image_ids), _COPY_CHUNK):
                cp.write(payload(slice(start, start + _COPY_CHUNK)))
        cur.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM tmp_agg ON CONFLICT (image_id) DO UPDATE SET {updates}"
        )


def _write_images(
    standard: Standard,
    image_ids: list[str],
    stats: aggregation.ImageStats,
    psi: np.ndarray,
    psi_se: np.ndarray,
    psi_ci: np.ndarray,
) -> None:
    if connection.vendor == "postgresql":
        _write_images_pg(standard, image_ids, stats, psi, psi_se, psi_ci)
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
            psi_ci_half_width=_col(psi_ci[j]),
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
            "psi_ci_half_width",
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
