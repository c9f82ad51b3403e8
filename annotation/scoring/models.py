"""Collection and scoring: campaigns, submissions and their checks, the scoring pool, leases, ratings and
the numbers derived from them (per-image aggregates, rater quality, aggregation runs).

Invariants live in the database (see ``next_image.md`` beside the queue service):

* ``Rating``: UNIQUE (image, rater), so a rater rates an image at most once, whatever the client does;
* ``PoolItem``: CHECK ``0 <= ratings_done <= target``; the submit transaction increments ``ratings_done`` with
  a conditional UPDATE (``... WHERE ratings_done < target``) in the same transaction that inserts the rating,
  so no image ever gets more ratings than its target;
* ``Lease``: UNIQUE (rater): a rater holds at most one item at a time.

Derived rows (``ImageAggregate``, ``RaterQuality``, ``AggregationRun``) are recomputed from raw ratings
(idempotent), never maintained by signals.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from annotation.models import Image, Job, Standard
from humanbeauty.bounds import bound_constraints

CAMPAIGN_BOUNDS = {
    "target_count": (1, 1_000_000),
    "ratings_target": (1, 100),
    "ratings_step": (1, 100),
    "ratings_cap": (1, 200),
    "max_ci_half_width": (0.001, 1.0),
}


class Campaign(models.Model):
    """A collection campaign: what to collect (principles), how many, until when, by whom; and how many
    ratings each collected image gets (k, top-up step, cap, CI half-width threshold; docs/scoring.md)."""

    name = models.CharField(max_length=200)
    principles = models.TextField(
        help_text="One principle per line; shown as a checklist on the upload page."
    )
    target_count = models.PositiveIntegerField(default=100, help_text="Images to collect.")
    deadline = models.DateTimeField(null=True, blank=True)
    volunteers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="collection_campaigns"
    )
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    ratings_target = models.PositiveSmallIntegerField(default=9)
    ratings_step = models.PositiveSmallIntegerField(default=3)
    ratings_cap = models.PositiveSmallIntegerField(default=15)
    max_ci_half_width = models.FloatField(default=0.15)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(ratings_target__gte=1), name="campaign_target_ge_1"),
            models.CheckConstraint(
                condition=Q(ratings_cap__gte=F("ratings_target")), name="campaign_cap_ge_target"
            ),
            models.CheckConstraint(condition=Q(ratings_step__gte=1), name="campaign_step_ge_1"),
            models.CheckConstraint(condition=Q(max_ci_half_width__gt=0), name="campaign_ci_positive"),
            *bound_constraints("campaign", CAMPAIGN_BOUNDS),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def principle_list(self) -> list[str]:
        return [line.strip() for line in self.principles.splitlines() if line.strip()]


class Submission(models.Model):
    """One uploaded file: checking → passed/failed (automatic checks) → approved/rejected (admin review)."""

    class Status(models.TextChoices):
        CHECKING = "checking", "Checking"
        PASSED = "passed", "Passed checks (awaiting review)"
        FAILED = "failed", "Failed checks"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="submissions")
    submitter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions"
    )
    upload = models.FileField(upload_to="submissions/", max_length=255, help_text="The bytes as uploaded.")
    upload_sha256 = models.CharField(max_length=64, db_index=True)
    image = models.ForeignKey(
        Image, on_delete=models.PROTECT, null=True, blank=True, related_name="submissions"
    )
    source_url = models.URLField(max_length=500)
    attestation = models.BooleanField(
        help_text="Licence/consent attestation by the submitter (must be true)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CHECKING, db_index=True)
    # [{"name": ..., "passed": bool, "reason": ...}] in a fixed order (see services/collection.py)
    checks = models.JSONField(default=list, blank=True)
    faces = models.JSONField(default=list, blank=True, help_text="Detected faces: [{box, score, landmarks}].")
    image_width = models.PositiveIntegerField(null=True, blank=True)
    image_height = models.PositiveIntegerField(null=True, blank=True)
    detector_version = models.CharField(max_length=200, blank=True)
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_reason = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(attestation=True), name="submission_attested")]

    def __str__(self) -> str:
        return f"submission#{self.pk} {self.status}"


class ImageFingerprint(models.Model):
    """Perceptual hash (ImageHash pHash, 64 bits stored as a signed bigint) of a library image, for the
    near-duplicate check."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, primary_key=True, related_name="+")
    phash = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"phash:{self.image_id[:12]}"


class PoolItem(models.Model):
    """An image in the scoring pool. ``ratings_done`` is changed only by the transaction that inserts (or
    deletes) a rating; ``target`` only by the adaptive top-up. ``priority`` is the documented hook for model
    pre-scores (Modeling issue): it may reorder the queue and is never serialised to raters."""

    image = models.OneToOneField(Image, on_delete=models.PROTECT, related_name="pool_item")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="pool"
    )
    target = models.PositiveSmallIntegerField(default=9)
    ratings_done = models.PositiveSmallIntegerField(default=0)
    priority = models.FloatField(default=0.0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ratings_done__lte=F("target")), name="poolitem_done_le_target"
            ),
            models.CheckConstraint(condition=Q(ratings_done__gte=0), name="poolitem_done_ge_0"),
        ]
        indexes = [
            # The queue's scan order over open items only (next_image.md).
            models.Index(
                F("ratings_done").desc(),
                F("priority").desc(),
                F("created_at").asc(),
                name="poolitem_queue_open",
                condition=Q(active=True, ratings_done__lt=F("target")),
            )
        ]

    def __str__(self) -> str:
        return f"pool:{self.image_id[:12]} {self.ratings_done}/{self.target}"

    @property
    def is_complete(self) -> bool:
        return self.ratings_done >= self.target


class Lease(models.Model):
    """A rater's claim on one image for a few minutes. ``is_gold`` (a hidden gold item, no pool item) is
    server-side only: nothing about a lease that reaches the rater tells the two kinds apart."""

    rater = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scoring_lease"
    )
    pool_item = models.ForeignKey(
        PoolItem, on_delete=models.CASCADE, null=True, blank=True, related_name="leases"
    )
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    is_gold = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["pool_item", "expires_at"], name="lease_item_expiry")]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_gold=True) | Q(pool_item__isnull=False), name="lease_pool_item_unless_gold"
            )
        ]

    def __str__(self) -> str:
        return f"lease:{self.rater_id}→{self.image_id[:12]}"


class Rating(models.Model):
    """One rater's scores for one image: ``scores`` is a list in the standard's dimension order, ``null`` where
    the rater could not judge that dimension."""

    pool_item = models.ForeignKey(PoolItem, on_delete=models.PROTECT, related_name="ratings")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="ratings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ratings")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    scores = models.JSONField()
    comments = models.JSONField(default=dict, blank=True)
    reported = models.BooleanField(default=False)
    report_reason = models.CharField(max_length=500, blank=True)
    dwell_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["image", "rater"], name="rating_unique_image_rater")]
        indexes = [models.Index(fields=["rater", "created_at"], name="rating_rater_time")]

    def __str__(self) -> str:
        return f"rating:{self.image_id[:12]} by {self.rater_id}"


class Skip(models.Model):
    """A rater passed on an image (skip, can't judge the whole image, or report). The image is not offered to
    that rater again; skip rates are monitored."""

    class Reason(models.TextChoices):
        SKIP = "skip", "Skipped"
        CANT_JUDGE = "cant_judge", "Can't judge"
        REPORT = "report", "Reported"
        EXPIRED = "expired", "Lease expired"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "rater"], name="skip_unique_image_rater")]

    def __str__(self) -> str:
        return f"skip:{self.image_id[:12]} by {self.rater_id} ({self.reason})"


class ImageAggregate(models.Model):
    """Per image, one list per statistic in the standard's dimension order (like ``Rating.scores``): MOS,
    sample SD, n, 95 % Student-t CI half-width; SUREAL ψ (clipped to [0, 1]), its SE and its 95 % CI
    half-width (t(n-1), null below 2 ratings) from the latest aggregation run (empty until one ran).
    Recomputed from raw ratings, idempotently: when an image completes, and by every run."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, primary_key=True, related_name="aggregate")
    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="+")
    n_ratings = models.PositiveSmallIntegerField(default=0)
    mos = models.JSONField(default=list)
    sd = models.JSONField(default=list)
    n = models.JSONField(default=list)
    ci_half_width = models.JSONField(default=list)
    max_ci_half_width = models.FloatField(null=True)
    psi = models.JSONField(default=list)
    psi_se = models.JSONField(default=list)
    psi_ci_half_width = models.JSONField(
        default=list, help_text="95 % CI half-width of ψ per dimension: t(0.975, n-1) x SE; null where n < 2."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image"]

    def __str__(self) -> str:
        return f"aggregate:{self.image_id[:12]} n={self.n_ratings}"


class AggregationRun(models.Model):
    """One full re-aggregation of a standard's ratings: reliability report, rater screening (the rules'
    medians and thresholds, who was flagged) and SUREAL's convergence per dimension (JSON)."""

    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    n_images = models.PositiveIntegerField(default=0)
    n_raters = models.PositiveIntegerField(default=0)
    n_ratings = models.PositiveIntegerField(default=0)
    reliability = models.JSONField(default=dict)
    screening = models.JSONField(default=dict)
    seconds = models.FloatField(default=0.0)
    timings = models.JSONField(default=dict, help_text="Seconds per stage (load, math, writes).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run#{self.pk} {self.n_ratings} ratings"


class RaterQuality(models.Model):
    """Per rater and standard, from the latest aggregation run: SUREAL bias Δ and inconsistency υ per
    dimension, LOO SRCC per dimension, hidden-gold error, and whether screening flagged the rater: ``flags``
    holds one reason per rule that fired (with its numbers), ``screening`` each rule's value and threshold."""

    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(
        AggregationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    n_ratings = models.PositiveIntegerField(default=0)
    delta = models.JSONField(default=list)
    upsilon = models.JSONField(default=list)
    loo_srcc = models.JSONField(default=list)
    mean_delta = models.FloatField(null=True)
    mean_upsilon = models.FloatField(null=True)
    mean_loo_srcc = models.FloatField(null=True)
    gold_error = models.FloatField(null=True, help_text="Mean absolute error on hidden gold, when available.")
    flagged = models.BooleanField(default=False)
    flags = models.JSONField(default=list, help_text="Why, one reason per rule that fired, with the numbers.")
    screening = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per rule: value, threshold, fired; 'pattern' (straight-lining, random clicking, ...).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rater__username"]
        constraints = [models.UniqueConstraint(fields=["rater", "standard"], name="raterquality_unique")]

    def __str__(self) -> str:
        return f"quality:{self.rater_id}"


class LevelExample(models.Model):
    """An example image an admin chose for one level of one dimension, shown to raters beside the level
    definitions. Only images whose MOS is final (completed pool items) qualify: never hidden gold or
    qualification items, which raters must not learn to recognise."""

    dimension = models.ForeignKey("annotation.Dimension", on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=16, help_text="One of annotation.standards.humanbeauty.LEVELS.")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dimension", "level", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "level", "image"], name="level_example_unique")
        ]

    def __str__(self) -> str:
        return f"example {self.dimension_id}:{self.level} {self.image_id[:12]}"
