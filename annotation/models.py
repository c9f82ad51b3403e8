"""Core data of the platform: users and roles, aesthetic standards, the image store and jobs.

Qualification (``annotation.qualification``) and collection/scoring (``annotation.scoring``) are separate
apps with their own model files; they build on these.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class User(AbstractUser):
    class Role(models.TextChoices):
        VOLUNTEER = "volunteer", "Volunteer"
        ADMIN = "admin", "Admin"
        RESEARCHER = "researcher", "Researcher"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VOLUNTEER)

    @property
    def is_platform_admin(self) -> bool:
        return self.is_superuser or self.role == self.Role.ADMIN


class Standard(models.Model):
    """An aesthetic standard: a named, ordered hierarchy of dimensions that ratings are validated against.

    New standards (e.g. ArtiMuse's 8 attributes) are data: create one with its dimensions, no code change.
    """

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    score_min = models.FloatField(default=0.0)
    score_max = models.FloatField(default=1.0)
    min_ratings = models.PositiveSmallIntegerField(
        default=9,
        help_text="Minimum ratings per image: campaigns cannot target fewer, releases leave out images below.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(condition=Q(score_min__lt=models.F("score_max")), name="standard_range"),
            models.CheckConstraint(
                condition=Q(min_ratings__gte=1, min_ratings__lte=100), name="standard_min_ratings_1_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Dimension(models.Model):
    standard = models.ForeignKey(Standard, on_delete=models.CASCADE, related_name="dimensions")
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    order = models.PositiveSmallIntegerField(help_text="Position in the standard's score vector (0-based).")
    guideline = models.TextField(blank=True)
    low_anchor = models.TextField(
        blank=True, help_text="What a score near the bottom of the range looks like."
    )
    high_anchor = models.TextField(blank=True, help_text="What a score near the top of the range looks like.")
    asks_comment = models.BooleanField(default=False, help_text="Ask the rater for a short written comment.")
    comment_required = models.BooleanField(
        default=False,
        help_text="A scored dimension must come with a written comment (ArtiMuse-style); implies asks_comment.",
    )

    class Meta:
        ordering = ["standard", "order"]
        constraints = [
            models.UniqueConstraint(fields=["standard", "key"], name="dimension_unique_key"),
            models.UniqueConstraint(fields=["standard", "order"], name="dimension_unique_order"),
            models.CheckConstraint(
                condition=Q(comment_required=False) | Q(asks_comment=True),
                name="dimension_required_comment_asked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.standard.key}:{self.key}"


class Image(models.Model):
    """A stored image, keyed by the SHA-256 of its stored bytes (content addressing: no copies).

    Bytes are stored as uploaded unless an EXIF orientation had to be applied, in which case the upright
    re-encoding is stored and ``original_sha256`` keeps the uploaded bytes' hash, so re-uploading the same
    file still finds this image.
    """

    class Provenance(models.TextChoices):
        COLLECTED = "collected", "Collected by a volunteer"
        PUBLIC = "public", "Public IAA dataset"
        GOLD = "gold", "Expert gold bank"
        DEMO = "demo", "Demo data"

    sha256 = models.CharField(max_length=64, primary_key=True)
    original_sha256 = models.CharField(max_length=64, db_index=True)
    file = models.FileField(upload_to="images/", max_length=255)
    thumbnail = models.FileField(upload_to="thumbs/", max_length=255, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=8)
    size_bytes = models.PositiveBigIntegerField()
    provenance = models.CharField(max_length=16, choices=Provenance.choices)
    source = models.CharField(max_length=64, blank=True, help_text="Public dataset key, e.g. 'scut-fbp5500'.")
    source_ref = models.CharField(max_length=500, blank=True, help_text="Native id/path or the source URL.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "sha256"]

    def __str__(self) -> str:
        return self.sha256[:12]


class Job(models.Model):
    """A long-running piece of work (Celery task) that reports progress here.

    A job's outputs count as complete only when ``status == succeeded``; a failed job records why in
    ``error`` and whatever it wrote stays marked as unfinished by its owner (e.g. a release stays
    unpublished).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the worker running it (progress or heartbeat)."
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times the watchdog re-dispatched it after its worker was lost."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat")]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(done__lte=models.F("total")), name="job_done_le_total"
            ),
            models.CheckConstraint(condition=Q(attempts__lte=100), name="job_attempts_bounded"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}#{self.pk} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED}

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return self.done / self.total

    @property
    def error_summary(self) -> str:
        """The error without its traceback ("Type: message"): what non-admins see of a failed job."""
        return self.error.split("\n\n", 1)[0].split("\nTraceback", 1)[0][:2000]
