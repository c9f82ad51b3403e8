"""Curation data: public sources and their items, RetinaFace verdicts, and versioned releases.

Invariants live in the database:

* ``SourceItem``: UNIQUE (source, native_id) — re-importing a source never duplicates a row;
* ``FaceDetection``: UNIQUE (image, detector_version) — a filter job inserts with ``ignore_conflicts`` and
  re-runs (or a resumed job after a killed worker) compute only the images still missing a row;
* ``Release``: UNIQUE version; a published release is immutable (services refuse changes, its directory
  under ``RELEASES_ROOT`` is write-once); ``ReleaseMember`` freezes which images, which scores and which
  split each image had, so later versions keep every image's split and can be diffed.

Normalised scores and levels on ``SourceItem`` are derived (recomputed by ``source_normalise``), never
maintained by signals.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Image, Job
from humanbeauty.bounds import bound_constraints


class Source(models.Model):
    """A public IAA dataset registered from a local folder in its native layout (``curation.importers``)."""

    class Kind(models.TextChoices):
        NATURAL = "natural", "Natural photographs"
        ARTISTIC = "artistic", "Artistic images"
        AIGC = "aigc", "AI-generated images"

    key = models.SlugField(max_length=64, unique=True, help_text="Source key, e.g. 'scut_fbp5500'.")
    name = models.CharField(max_length=200)
    importer = models.CharField(max_length=64, help_text="Key in curation.importers.IMPORTERS, or 'csv'.")
    options = models.JSONField(default=dict, blank=True, help_text="Generic CSV importer options.")
    root = models.CharField(max_length=1000, help_text="Absolute path of the folder in its native layout.")
    score_min = models.FloatField()
    score_max = models.FloatField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NATURAL)
    normalisation = models.JSONField(
        default=dict, blank=True, help_text="Last min-max range used: {min, max, n, detector_version}."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(condition=Q(score_min__lt=models.F("score_max")), name="source_range")
        ]

    def __str__(self) -> str:
        return self.key


class SourceItem(models.Model):
    """One labelled image of a source: its native score and, after filtering, the normalised score."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="source_items")
    native_id = models.CharField(max_length=500)
    raw_score = models.FloatField()
    extra = models.JSONField(default=dict, blank=True)
    kept = models.BooleanField(null=True, help_text="Single-face verdict; null until filtered.")
    score = models.FloatField(null=True, blank=True, help_text="Min-max normalised over kept items, [0, 1].")
    level = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "native_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "native_id"], name="sourceitem_unique_native_id"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0.0, score__lte=1.0),
                name="sourceitem_score_01",
            ),
        ]
        indexes = [models.Index(fields=["source", "kept"], name="sourceitem_source_kept")]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.native_id}"


class FaceDetection(models.Model):
    """RetinaFace result for one image and one detector version (weights + thresholds)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="face_detections")
    detector_version = models.CharField(max_length=200)
    face_count = models.PositiveSmallIntegerField(default=0)
    faces = models.JSONField(default=list, blank=True, help_text="[{box, score, landmarks}] per face.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    kept = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True, help_text="Why the file could not be read (corrupt, missing).")
    thresholds = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image", "detector_version"]
        constraints = [
            models.UniqueConstraint(fields=["image", "detector_version"], name="facedetection_unique_version")
        ]
        indexes = [models.Index(fields=["detector_version", "kept"], name="facedetection_version_kept")]

    def __str__(self) -> str:
        return f"{self.image_id[:12]} faces={self.face_count} kept={self.kept}"


RELEASE_BOUNDS = {"test_fraction": (0.01, 0.5)}  # serializer + database check


class Release(models.Model):
    """A versioned release of one standard's data (the default standard: HumanBeauty's 50K/58K layout;
    another standard: its own layout, see ``curation.release_writer.STANDARD_LAYOUTS``). ``spec`` freezes
    what went in (standard, aggregation, sources and their normalisation ranges, detector, salt); the
    directory ``path`` is write-once. Versions are unique across standards (one directory per version);
    lineage (``previous``), diffs, frozen splits and the no-change refusal are per standard."""

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        PUBLISHED = "published", "Published"
        FAILED = "failed", "Failed"

    class LevelRule(models.TextChoices):
        LOWER_INCLUSIVE = "lower_inclusive", "Lower-inclusive cuts (the public HumanAesExpert code)"
        UPPER_INCLUSIVE = "upper_inclusive", "Upper-inclusive cuts (the HumanAesExpert paper, Eq. 2)"

    version = models.CharField(max_length=64, unique=True, help_text="Semantic version, e.g. 1.2.0.")
    name = models.CharField(max_length=100, default="HumanBeauty")
    standard = models.ForeignKey(
        "annotation.Standard",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="releases",
        help_text="The standard whose ratings the release publishes (null: releases before standards, "
        "the default standard).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BUILDING, db_index=True)
    split_salt = models.CharField(max_length=100)
    test_fraction = models.FloatField(default=0.1)
    content_date = models.CharField(
        max_length=32, blank=True, help_text="The release's only date (from its content)."
    )
    notes = models.TextField(blank=True)
    level_rule = models.CharField(
        max_length=16, choices=LevelRule.choices, default=LevelRule.LOWER_INCLUSIVE, help_text="Level cuts."
    )
    rater_salt = models.CharField(
        max_length=64,
        blank=True,
        help_text="Secret per-release salt of the rater pseudonyms (never published).",
    )
    rater_quality = models.JSONField(
        default=dict, blank=True, help_text="Frozen SUREAL bias/inconsistency per rater id (never published)."
    )
    spec = models.JSONField(default=dict, blank=True)
    release_sha256 = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=1000, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    diff_counts = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    previous = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="published") | ~Q(release_sha256=""), name="release_published_has_hash"
            ),
            *bound_constraints("release", RELEASE_BOUNDS),
            models.CheckConstraint(
                condition=Q(level_rule__in=["lower_inclusive", "upper_inclusive"]), name="release_level_rule"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.status})"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class ReleaseMember(models.Model):
    """One image of a release with the scores and split it was published with (frozen)."""

    class Part(models.TextChoices):
        P50K = "50K", "HumanBeauty-50K (12-dimension MOS)"
        P58K = "58K", "HumanBeauty-58K (overall)"
        RATED = "std", "Rated on the release's (non-default) standard, every dimension"

    class Split(models.TextChoices):
        TRAIN = "train", "train"
        TEST = "test", "test"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="members")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="release_members")
    part = models.CharField(max_length=3, choices=Part.choices)
    split = models.CharField(max_length=5, choices=Split.choices)
    source = models.CharField(max_length=64)
    mos = models.FloatField(
        help_text="Main overall score: psi of overall clipped to [0, 1] (50K), public (58K)."
    )
    dims = models.JSONField(
        null=True,
        blank=True,
        help_text="12 main scores (psi clipped to [0, 1]) in the HumanBeauty standard's order (50K).",
    )
    n_ratings = models.PositiveIntegerField(default=0)
    mos_std = models.FloatField(null=True, blank=True)
    dim_sd = models.JSONField(null=True, blank=True)
    dim_ci = models.JSONField(null=True, blank=True)
    dim_mos = models.JSONField(null=True, blank=True, help_text="12 plain MOS (50K).")
    dim_n = models.JSONField(null=True, blank=True, help_text="Ratings per dimension (50K).")
    psi = models.JSONField(null=True, blank=True, help_text="12 SUREAL psi, unclipped (50K).")
    psi_se = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["release", "image"]
        constraints = [models.UniqueConstraint(fields=["release", "image"], name="releasemember_unique")]
        indexes = [models.Index(fields=["image", "release"], name="releasemember_image")]

    def __str__(self) -> str:
        return f"{self.release_id}:{self.image_id[:12]} {self.part}/{self.split}"
