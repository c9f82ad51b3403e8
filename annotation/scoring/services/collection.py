"""Collection campaigns, volunteer submissions, the automatic checks and admin review.

A submission's checks run in a Celery job (``collection.submission_checks``), in this fixed order, each
recorded as ``{"name", "passed", "reason"}`` for the submitter to see:

1. ``decodes``: safe decoding (size/format/pixel limits, full decode; ``image_decode``);
2. ``min_resolution``: the shorter side is at least ``HB_COLLECTION_MIN_SHORT_SIDE`` px;
3. ``not_duplicate``: the same SHA-256 is not already in the library;
4. ``not_near_duplicate``: no library image within ``HB_COLLECTION_PHASH_MAX_DISTANCE`` bits (pHash);
5. ``face_present``, ``single_dominant_subject``, ``not_head_only``: RetinaFace (``curation.faces``).

Only a submission whose checks all pass is ingested into the image store (provenance "collected") and
waits for review; approval puts it in the scoring pool.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.imaging import DecodedImage, sha256_hex
from annotation.models import Image, User
from annotation.selectors import default_standard
from annotation.services.images import image_decode, image_ingest, image_probe
from annotation.services.jobs import job_create, job_enqueue, job_running, job_succeed
from humanbeauty.errors import ApplicationError, ConflictError

from .. import config
from ..models import Campaign, ImageAggregate, ImageFingerprint, Lease, PoolItem, Rating, Skip, Submission
from .pool import pool_add

logger = logging.getLogger(__name__)

CAMPAIGN_FIELDS = (
    "name",
    "principles",
    "target_count",
    "deadline",
    "standard",
    "ratings_target",
    "ratings_step",
    "ratings_cap",
    "max_ci_half_width",
    "is_active",
)


# ----------------------------------------------------------------------------- campaigns


def _check_min_ratings(campaign: Campaign) -> None:
    """A campaign may ask for more ratings per image than its standard's minimum, never fewer (the adaptive
    top-up only ever raises an image's target)."""
    minimum = campaign.standard.min_ratings
    if campaign.ratings_target < minimum:
        message = (
            f"ratings_target {campaign.ratings_target} is below the minimum of {minimum} ratings per image "
            f"set by the standard {campaign.standard.key!r}."
        )
        raise ApplicationError(
            message, extra={"fields": {"ratings_target": [message]}, "min_ratings": minimum}
        )


@transaction.atomic
def campaign_create(*, created_by: User, volunteers: list[User] | None = None, **fields: Any) -> Campaign:
    unknown = set(fields) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown campaign fields: {', '.join(sorted(unknown))}.")
    if fields.get("standard") is None:
        fields["standard"] = default_standard()
    campaign = Campaign(created_by=created_by, **fields)
    _check_min_ratings(campaign)
    campaign.full_clean()
    campaign.save()
    if volunteers is not None:
        campaign_set_volunteers(campaign=campaign, volunteers=volunteers)
    return campaign


def campaign_set_volunteers(*, campaign: Campaign, volunteers: list[User]) -> None:
    from annotation.qualification.contract import rater_is_certified

    for v in volunteers:
        if v.role != User.Role.VOLUNTEER or not rater_is_certified(rater=v):
            raise ApplicationError(
                f"volunteers: {v.username} is not a certified volunteer.",
                extra={"fields": {"volunteers": [f"{v.username} is not certified."]}},
            )
    campaign.volunteers.set(volunteers)


@transaction.atomic
def campaign_update(*, campaign: Campaign, volunteers: list[User] | None = None, **fields: Any) -> Campaign:
    unknown = set(fields) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown campaign fields: {', '.join(sorted(unknown))}.")
    if "standard" in fields and fields["standard"] != campaign.standard and campaign.pool.exists():
        raise ConflictError("The campaign's images are already being scored; its standard cannot change.")
    for key, value in fields.items():
        setattr(campaign, key, value)
    _check_min_ratings(campaign)
    campaign.full_clean()
    campaign.save(update_fields=list(fields) or None)
    if volunteers is not None:
        campaign_set_volunteers(campaign=campaign, volunteers=volunteers)
    return campaign


# ----------------------------------------------------------------------------- submissions


def submission_create(
    *, campaign: Campaign, submitter: User, data: bytes, source_url: str, attestation: bool
) -> Submission:
    """Check the upload cheaply (nothing stored on a 4xx), keep it until its checks have run, and enqueue
    them (``collection.submission_checks``, heavy decoding on a worker) on commit."""
    if not attestation:
        raise ApplicationError(
            "attestation: confirm that you hold the licence and the subject's consent.",
            extra={"fields": {"attestation": ["Required."]}},
        )
    if not campaign.is_active or (campaign.deadline and campaign.deadline < timezone.now()):
        raise ConflictError("This campaign is closed.")
    if not campaign.volunteers.filter(pk=submitter.pk).exists():
        raise ApplicationError("You are not assigned to this campaign.", status=403)
    # The cheap checks (size, magic bytes, allowed format, header-declared pixels) before anything is
    # stored: a text file named .jpg, an SVG or a pixel bomb gets a 4xx here and leaves nothing behind.
    try:
        probed = image_probe(data=data)
    except ApplicationError as exc:
        raise ApplicationError(
            f"file: {exc.message}", extra={**exc.extra, "fields": {"file": [exc.message]}}, status=exc.status
        ) from exc
    sha = sha256_hex(data)
    with transaction.atomic():
        submission = Submission(
            campaign=campaign, submitter=submitter, upload_sha256=sha, source_url=source_url, attestation=True
        )
        # Kept until the checks have run (then replaced by the stored image, or deleted if it does not decode).
        extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(probed.format, "img")
        submission.upload.name = default_storage.save(
            f"submissions/{sha[:2]}/{sha}.{extension}", ContentFile(data)
        )
        submission.full_clean()
        submission.save()
        job = job_create(
            kind="collection.submission_checks", params={"submission_id": submission.pk}, created_by=submitter
        )
        Submission.objects.filter(pk=submission.pk).update(job=job)
        submission.job = job
        from ..tasks import submission_checks_task

        job_enqueue(job=job, task=submission_checks_task, args=(submission.pk,))
    return submission


def _phash_int(image: Any) -> int:
    import imagehash

    value = int(str(imagehash.phash(image)), 16)
    return value - (1 << 64) if value >= (1 << 63) else value  # store as signed 64-bit


def image_fingerprint_ensure(*, image: Image, pil_image: Any = None) -> ImageFingerprint:
    existing = ImageFingerprint.objects.filter(image=image).first()
    if existing is not None:
        return existing
    if pil_image is None:
        with default_storage.open(image.file.name, "rb") as fh:
            pil_image = image_decode(data=fh.read()).image
    fp, _ = ImageFingerprint.objects.get_or_create(image=image, defaults={"phash": _phash_int(pil_image)})
    return fp


def _nearest_fingerprint(phash: int) -> tuple[str | None, int]:
    """Closest stored pHash by Hamming distance (vectorised over all stored hashes)."""
    rows = list(ImageFingerprint.objects.values_list("image_id", "phash"))
    if not rows:
        return None, 65
    hashes = np.fromiter((h for _, h in rows), dtype=np.int64, count=len(rows)).view(np.uint64)
    x = hashes ^ np.uint64(phash & ((1 << 64) - 1))
    dist = np.bitwise_count(x)
    i = int(np.argmin(dist))
    return rows[i][0], int(dist[i])


@cache
def _detector() -> Any:
    """One RetinaFace session per process (loading the ONNX model costs far more than one detection)."""
    from curation.faces import FaceDetector

    return FaceDetector()


def _resolution_check(decoded: DecodedImage) -> dict[str, Any]:
    short, need = min(decoded.width, decoded.height), config.min_short_side_px()
    return _check("min_resolution", short >= need, f"shorter side {short}px (minimum {need}px)")


def _face_checks(decoded: DecodedImage) -> tuple[list[dict[str, Any]], list[Any], str]:
    """RetinaFace: at least one face, one dominant subject, not head-only. (checks, faces found, detector
    version)."""
    from curation import faces as face_rules

    detector = _detector()
    found = detector.detect(decoded.image)
    checks = [
        _check(r.name, r.passed, r.reason)
        for r in face_rules.collection_face_checks(
            found,
            decoded.width,
            decoded.height,
            dominance_ratio=config.dominance_ratio(),
            head_only_max_area_fraction=config.head_only_max_area_fraction(),
        )
    ]
    return checks, found, detector.version()[:200]


def _check(name: str, passed: bool, reason: str) -> dict[str, Any]:
    return {"name": name, "passed": bool(passed), "reason": reason}


def submission_run_checks(*, submission: Submission) -> Submission:
    """Run every check (idempotent: re-running recomputes the verdicts of a submission still checking/failed)."""
    if submission.status not in (Submission.Status.CHECKING, Submission.Status.FAILED):
        return submission
    if not submission.upload.name:  # checked before; the bytes did not decode and were discarded
        return submission
    raw_upload = submission.upload.name
    with default_storage.open(submission.upload.name, "rb") as fh:
        data = fh.read()
    checks: list[dict[str, Any]] = []
    faces: list[dict[str, Any]] = []
    decoded = None
    try:
        decoded = image_decode(data=data)
        checks.append(_check("decodes", True, f"{decoded.format} {decoded.width}×{decoded.height}"))
    except ApplicationError as exc:
        checks.append(_check("decodes", False, exc.message))
    if decoded is not None:
        checks.append(_resolution_check(decoded))
        dup = (
            Image.objects.filter(sha256=decoded.sha256).first()
            or Image.objects.filter(original_sha256=decoded.original_sha256).first()
        )
        checks.append(
            _check(
                "not_duplicate",
                dup is None,
                "not in the library" if dup is None else f"already in the library as {dup.sha256[:12]}",
            )
        )
        phash = _phash_int(decoded.image)
        near, dist = _nearest_fingerprint(phash)
        limit = config.near_duplicate_max_distance()
        is_near = near is not None and dist <= limit and near != decoded.sha256
        if dup is not None and near == dup.sha256:
            is_near = False  # already reported as an exact duplicate
        checks.append(
            _check(
                "not_near_duplicate",
                not is_near,
                f"pHash distance {dist} to {near[:12]} (≤ {limit} is a near-duplicate)"
                if is_near
                else (f"closest pHash distance {dist} (> {limit})" if near else "no stored hashes yet"),
            )
        )
        face_checks, found, submission.detector_version = _face_checks(decoded)
        checks.extend(face_checks)
        faces = [f.to_dict() for f in found]
        submission.image_width, submission.image_height = decoded.width, decoded.height
    passed = decoded is not None and all(c["passed"] for c in checks)
    with transaction.atomic():
        if passed:
            image, _ = image_ingest(
                data=data,
                provenance=Image.Provenance.COLLECTED,
                source="collection",
                source_ref=submission.source_url,
                uploaded_by=submission.submitter,
            )
            ImageFingerprint.objects.get_or_create(image=image, defaults={"phash": phash})
            submission.image = image
            submission.upload.name = image.file.name  # the re-encoded, stored bytes replace the upload
        elif decoded is None:
            submission.upload.name = ""  # not an image: nothing of it is kept
        submission.checks = checks
        submission.faces = faces
        submission.status = Submission.Status.PASSED if passed else Submission.Status.FAILED
        submission.save(
            update_fields=[
                "checks",
                "faces",
                "status",
                "image",
                "upload",
                "detector_version",
                "image_width",
                "image_height",
            ]
        )
        if submission.upload.name != raw_upload and raw_upload.startswith("submissions/"):
            transaction.on_commit(lambda: default_storage.delete(raw_upload))
    return submission


def submission_import_library_image(
    *, campaign: Campaign, submitter: User, image: Image, source_url: str
) -> Submission:
    """Record a submission for an image already in the library (demo, migrations): runs the decode,
    resolution and face checks on the stored bytes; the duplicate checks are marked as an import."""
    existing = Submission.objects.filter(campaign=campaign, image=image).first()
    if existing is not None:
        return existing
    with default_storage.open(image.file.name, "rb") as fh:
        decoded = image_decode(data=fh.read())
    face_checks, found, detector_version = _face_checks(decoded)
    checks = [
        _check("decodes", True, f"{decoded.format} {decoded.width}×{decoded.height}"),
        _resolution_check(decoded),
        _check("not_duplicate", True, "imported from the library"),
        _check("not_near_duplicate", True, "imported from the library"),
        *face_checks,
    ]
    passed = all(c["passed"] for c in checks)
    submission = Submission(
        campaign=campaign,
        submitter=submitter,
        upload_sha256=image.original_sha256,
        image=image,
        source_url=source_url,
        attestation=True,
        checks=checks,
        faces=[f.to_dict() for f in found],
        image_width=decoded.width,
        image_height=decoded.height,
        detector_version=detector_version,
        status=Submission.Status.PASSED if passed else Submission.Status.FAILED,
    )
    submission.upload.name = image.file.name
    submission.full_clean()
    submission.save()
    image_fingerprint_ensure(image=image, pil_image=decoded.image)
    return submission


def submission_checks_run_job(*, job_id: int, submission_id: int) -> None:
    with job_running(job_id=job_id, total=1, message="checking"):
        submission = Submission.objects.select_related("submitter").filter(pk=submission_id).first()
        if submission is None:
            job_succeed(job_id=job_id, result={"missing": True}, message="submission gone")
            return
        submission = submission_run_checks(submission=submission)
        job_succeed(
            job_id=job_id,
            result={"status": submission.status, "checks": submission.checks},
            message=submission.status,
        )


@transaction.atomic
def submission_review(
    *, submission: Submission, reviewer: User, approve: bool, reason: str = ""
) -> Submission:
    """Approve (the image enters the scoring pool) or reject (a reason is required) a passed submission."""
    submission = Submission.objects.select_for_update().select_related("campaign").get(pk=submission.pk)
    if submission.status != Submission.Status.PASSED:
        raise ConflictError(
            f"Only submissions that passed the checks can be reviewed (this one is {submission.status})."
        )
    if not approve and not reason.strip():
        raise ApplicationError(
            "reason: give a reason for the rejection.", extra={"fields": {"reason": ["Required."]}}
        )
    submission.status = Submission.Status.APPROVED if approve else Submission.Status.REJECTED
    submission.reviewer = reviewer
    submission.review_reason = reason.strip()
    submission.reviewed_at = timezone.now()
    submission.save(update_fields=["status", "reviewer", "review_reason", "reviewed_at"])
    if approve:
        pool_add(image=submission.image, standard=submission.campaign.standard, campaign=submission.campaign)
    return submission


def submission_undo_blockers(*, submission: Submission, now: Any = None) -> list[str]:
    """Why the review decision on ``submission`` can no longer be undone (empty: it can). A decision can be
    undone within ``review_undo_window_s`` and only while nothing depends on it: an approved image that
    this approval put in the pool must have no rating, skip, aggregate or live lease yet. A pool item that
    was there before the approval (another route put the image in the pool) is left alone and blocks nothing."""
    now = now or timezone.now()
    if submission.status not in (Submission.Status.APPROVED, Submission.Status.REJECTED):
        return [f"Only approved or rejected submissions can be undone (this one is {submission.status})."]
    window = config.review_undo_window_s()
    if submission.reviewed_at is None or (now - submission.reviewed_at).total_seconds() > window:
        return [f"The decision is older than {window // 60} minutes and can no longer be undone."]
    if submission.status == Submission.Status.REJECTED:
        return []
    item = _pool_item_added_by(submission)
    if item is None:
        return []
    blockers = []
    if n := Rating.objects.filter(pool_item=item).count():
        blockers.append(f"the image already has {n} rating(s)")
    if n := Skip.objects.filter(image_id=submission.image_id).count():
        blockers.append(f"{n} rater(s) already skipped it")
    if Lease.objects.filter(pool_item=item, expires_at__gt=now).exists():
        blockers.append("a rater is scoring it right now")
    if ImageAggregate.objects.filter(image_id=submission.image_id).exists():
        blockers.append("it already has aggregated scores")
    return [f"The approval can no longer be undone: {', '.join(blockers)}."] if blockers else []


def _pool_item_added_by(submission: Submission) -> PoolItem | None:
    """The pool item this approval created: ``submission_review`` stamps ``reviewed_at`` before ``pool_add``,
    so an item created earlier came from elsewhere (and an item another approved submission of the same
    image also relies on stays)."""
    item = PoolItem.objects.filter(image_id=submission.image_id).first()
    if item is None or item.created_at < submission.reviewed_at:
        return None
    others = Submission.objects.filter(image_id=submission.image_id, status=Submission.Status.APPROVED)
    if others.exclude(pk=submission.pk).exists():
        return None
    return item


@transaction.atomic
def submission_review_undo(*, submission: Submission, user: User) -> Submission:
    """Revert an approve/reject within the undo window: the submission waits for review again and an image
    that the approval put in the pool leaves it. ConflictError (409) says why when that is no longer safe."""
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    item = None
    if submission.status == Submission.Status.APPROVED and submission.image_id:
        # Lock the pool item too so no rating can land between the check and the delete.
        item = PoolItem.objects.select_for_update().filter(image_id=submission.image_id).first()
    blockers = submission_undo_blockers(submission=submission)
    if blockers:
        raise ConflictError(blockers[0], extra={"submission": submission.pk, "status": submission.status})
    if item is not None and _pool_item_added_by(submission) is not None:
        item.delete()  # expired leases go with it (cascade)
    submission.status = Submission.Status.PASSED
    submission.reviewer = None
    submission.review_reason = ""
    submission.reviewed_at = None
    submission.save(update_fields=["status", "reviewer", "review_reason", "reviewed_at"])
    logger.info("review of submission %s undone by %s", submission.pk, user.username)
    return submission
