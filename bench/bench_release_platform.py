"""Benchmark: build a 108,000-image release through the platform (service + job body), not the bare writer.

Setup (not timed): a scratch database (PostgreSQL ``hb_bench_release`` created and dropped here, or
SQLite under /tmp with ``--sqlite``), a media store of 108,000 distinct small JPEG files (as
``bench_release.py``), ``Image`` rows pointing at them, 368 raters and 9 raw ratings per 50K image
(450,000 ``Rating`` rows), 50,000 completed scoring aggregates (12 MOS + SD + CI + SUREAL psi each) on
the default standard (``HB_DEFAULT_STANDARD``) with an aggregation run and the raters' SUREAL bias/inconsistency newer than the ratings
(the state after the platform's aggregation job, which has its own benchmark), and 58,000 kept, normalised
public ``SourceItem`` rows over 6 sources.

Timed: ``release_create`` + ``release_build`` (what the Celery task ``curation.release_build`` runs):
freeze (selectors over aggregates and items, split assignment, 108k ``ReleaseMember`` rows), records from
the frozen rows, the raw ratings (pseudonymised) and their reliability, ``write_release`` (image bytes
hard-linked, never re-encoded; ratings/raters tables), publish.

    .venv/bin/python bench/bench_release_platform.py [--n50 50000] [--n58 58000] [--scale 0.2] [--db NAME] [--profile FILE] [--sqlite] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _scratch import drop_pg, setup_django  # noqa: E402

DB_NAME = "hb_bench_release"


def populate(work: Path, n50: int, n58: int) -> None:
    import numpy as np
    from bench_release import SOURCES, make_store
    from django.utils import timezone

    from annotation.models import Image
    from annotation.scoring.models import ImageAggregate, PoolItem
    from annotation.selectors import default_standard
    from curation.models import Source, SourceItem

    media = work / "media"
    images = make_store(media / "images", n50 + n58)
    now = timezone.now()
    rows = [
        Image(
            sha256=sha,
            original_sha256=sha,
            file=str(p.relative_to(media)),
            width=32,
            height=32,
            format="JPEG",
            size_bytes=p.stat().st_size,
            provenance="collected" if i < n50 else "public",
            source="" if i < n50 else SOURCES[i % 6],
            created_at=now,
        )
        for i, (sha, p) in enumerate(images)
    ]
    Image.objects.bulk_create(rows, batch_size=5000)
    standard = default_standard()
    rng = np.random.default_rng(0)
    dims = rng.uniform(0.02, 0.98, size=(n50, 12)).round(4)
    PoolItem.objects.bulk_create(
        [
            PoolItem(image_id=sha, standard=standard, target=9, ratings_done=9, completed_at=now)
            for sha, _ in images[:n50]
        ],
        batch_size=5000,
    )
    ImageAggregate.objects.bulk_create(
        [
            ImageAggregate(
                image_id=sha,
                standard=standard,
                n_ratings=9,
                mos=[float(v) for v in dims[i]],
                sd=[0.1] * 12,
                n=[9] * 12,
                ci_half_width=[0.07] * 12,
                max_ci_half_width=0.07,
                psi=[float(v) for v in dims[i]],
                psi_se=[0.03] * 12,
            )
            for i, (sha, _) in enumerate(images[:n50])
        ],
        batch_size=5000,
    )
    _ratings(images[:n50], dims, standard, now, rng)
    sources = {
        key: Source.objects.create(
            key=key,
            name=key,
            importer=key,
            root=str(work),
            score_min=0,
            score_max=10,
            normalisation={"min": 0},
        )
        for key in SOURCES
    }
    scores = rng.uniform(0, 1, size=n58).round(4)
    SourceItem.objects.bulk_create(
        [
            SourceItem(
                source=sources[SOURCES[i % 6]],
                image_id=sha,
                native_id=f"{i}.jpg",
                raw_score=float(scores[i - n50]) * 10,
                kept=True,
                score=float(scores[i - n50]),
                level="fair",
            )
            for i, (sha, _) in enumerate(images[n50:], start=n50)
        ],
        batch_size=5000,
    )


N_RATERS = 368
PER_IMAGE = 9


def _ratings(images50, dims, standard, now, rng) -> None:
    """9 ratings per 50K image by raters drawn from 368 (COPY on PostgreSQL), then the aggregation run and
    rater qualities the release freezes (written after the ratings, as the aggregation job would)."""
    import json

    import numpy as np
    from django.db import connection

    from annotation.models import User
    from annotation.scoring.models import AggregationRun, PoolItem, RaterQuality, Rating

    users = User.objects.bulk_create(
        [User(username=f"bench-rater{k}", role=User.Role.VOLUNTEER) for k in range(N_RATERS)]
    )
    user_ids = [u.pk for u in User.objects.filter(username__startswith="bench-rater").order_by("id")]
    items = dict(PoolItem.objects.values_list("image_id", "id"))
    cols = ("pool_item_id", "image_id", "rater_id", "standard_id", "scores", "comments", "reported")
    cols += ("report_reason", "dwell_ms", "created_at")

    def rows():
        for i, (sha, _path) in enumerate(images50):
            picks = rng.choice(N_RATERS, size=PER_IMAGE, replace=False)
            noise = rng.normal(0, 0.05, size=(PER_IMAGE, 12))
            for k, pick in enumerate(picks):
                scores = np.clip(dims[i] + noise[k], 0, 1).round(3).tolist()
                yield (items[sha], sha, user_ids[pick], standard.pk, json.dumps(scores), "{}", False, "",
                       int(5000 + pick), now)  # fmt: skip

    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {Rating._meta.db_table} ({', '.join(cols)}) FROM STDIN") as copy,
        ):
            for row in rows():
                copy.write_row(row)
    else:
        Rating.objects.bulk_create(
            [Rating(**dict(zip(cols, (*r[:4], json.loads(r[4]), {}, *r[6:]), strict=True))) for r in rows()],
            batch_size=5000,
        )
    run = AggregationRun.objects.create(
        standard=standard, n_images=len(images50), n_ratings=len(images50) * 9
    )
    RaterQuality.objects.bulk_create(
        [
            RaterQuality(
                rater_id=uid, standard=standard, run=run, n_ratings=0, delta=[0.01] * 12, upsilon=[0.05] * 12
            )
            for uid in user_ids
        ]
    )
    del users


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n50", type=int, default=50_000)
    ap.add_argument("--n58", type=int, default=58_000)
    ap.add_argument("--sqlite", action="store_true", help="SQLite under the work dir instead of PostgreSQL")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply --n50 and --n58 (0.2: a 21,600-image run)"
    )
    ap.add_argument("--db", default=DB_NAME, help="scratch PostgreSQL database name")
    ap.add_argument("--profile", type=Path, default=None, help="write a cProfile of the timed part here")
    args = ap.parse_args()
    args.n50, args.n58 = round(args.n50 * args.scale), round(args.n58 * args.scale)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_release_platform_"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.n50 + args.n58
    t = time.perf_counter()
    setup_django(work, args.sqlite, args.db)
    from django.db import connection

    populate(work, args.n50, args.n58)
    print(f"setup: {connection.vendor} scratch DB, {n} stored images, {args.n50} aggregates, "
          f"{args.n50 * PER_IMAGE} ratings, {args.n58} items "
          f"in {time.perf_counter() - t:.1f}s (not timed)")  # fmt: skip

    from curation.models import ReleaseMember
    from curation.services.releases import release_build, release_create, release_freeze

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    c0 = time.process_time()
    t0 = time.perf_counter()
    release = release_create(version="1.0.0", content_date="2026-01-15T00:00:00Z", enqueue=False)
    t1 = time.perf_counter()
    n_members = release_freeze(release=release)  # timed separately; release_build reuses the frozen rows
    t2 = time.perf_counter()
    release = release_build(release_id=release.pk)
    t3 = time.perf_counter()
    assert release.status == "published", release.error
    assert ReleaseMember.objects.filter(release=release).count() == n == n_members
    writer = release.timings
    records_and_publish = (t3 - t2) - writer["total"]
    print(f"  create (validate, job row)       {t1 - t0:8.2f} s")
    print(f"  freeze (selectors, members rows)  {t2 - t1:8.2f} s")
    print(f"  records from frozen rows + publish {records_and_publish:6.2f} s")
    from curation.exporters import REGISTRY

    for k in ("validate", *(e.name for e in REGISTRY), "manifest"):  # the writer's steps in order
        print(f"    writer {k:<22} {writer.get(k, 0.0):8.2f} s")
    print(f"  write_release total              {writer['total']:8.2f} s")
    total = t3 - t0
    cpu = time.process_time() - c0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(f"  this process's CPU time            {cpu:8.2f} s (PostgreSQL's own work not included)")
    print(
        f"release {release.version}: {release.counts['per_part']}, files linked, sha256 {release.release_sha256[:16]}…"
    )
    print(f"TOTAL (platform job) {total:.2f} s for {n} images ({n / total:.0f} images/s); target < 60 s")
    if not args.sqlite:
        drop_pg(args.db)
    if not args.keep and args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
