"""Registry of trained HumanAesExpert versions, their evaluations, and per-image predictions.

Invariants in the database:

* ``ModelVersion``: at most one row has ``is_active = true`` (partial unique index), and only a ``ready``
  version can be active (check constraint). Activation swaps the flag in one transaction.
* ``Prediction``: UNIQUE (image, model_version): pre-scoring is idempotent (re-runs insert only missing rows).

Predictions are internal: the scoring queue may read them (through ``PoolItem.priority``), raters never do.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Image, Job, Standard


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=100, default="humanaesexpert", help_text="Model family.")
    version = models.SlugField(max_length=64, unique=True, help_text="Unique version tag, e.g. 'v3-1b'.")
    checkpoint_path = models.CharField(max_length=1000, blank=True, help_text="Checkpoint directory.")
    backbone_path = models.CharField(max_length=1000, blank=True, help_text="Local backbone directory.")
    config = models.JSONField(default=dict, blank=True, help_text="HumanAesExpertConfig as JSON.")
    release_version = models.CharField(max_length=64, blank=True, help_text="Release trained on.")
    code_revision = models.CharField(max_length=80, blank=True, help_text="git SHA of the training code.")
    training = models.JSONField(default=dict, blank=True, help_text="Training arguments and losses.")
    metrics = models.JSONField(default=dict, blank=True, help_text="evaluate_release() on the test split.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING, db_index=True)
    is_active = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="modelversion_one_active"
            ),
            models.CheckConstraint(
                condition=Q(is_active=False) | Q(status="ready"), name="modelversion_active_is_ready"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


class Evaluation(models.Model):
    """One evaluation of a version on a dataset (its release's test split, or zero-shot on records)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    dataset = models.CharField(max_length=200, help_text="Release version + split, or a dataset name.")
    n = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"eval {self.model_version_id} on {self.dataset}"


class Prediction(models.Model):
    """All heads' scores for one image by one model version (scores in [0, 1]), stored by key.

    ``dimension_scores`` maps the ``standard``'s dimension keys to the Expert head's scores; ``head_scores``
    maps each head's name (``lm``, ``regression``, ``expert``, ``final``: the MetaVoter, null if untrained)
    to its overall score. No column is tied to one standard or one model family.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    standard = models.ForeignKey(
        Standard,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The standard the dimensions belong to.",
    )
    dimension_scores = models.JSONField(
        default=dict, help_text="{dimension key: score} (JSONB keeps no order: read .dimensions)."
    )
    head_scores = models.JSONField(default=dict, help_text="{head name: overall score or null}.")
    score = models.FloatField(help_text="The MetaVoter's score, or the heads' mean without a MetaVoter.")
    rating_level = models.CharField(max_length=16)
    heads_disagreement = models.FloatField(help_text="Population SD of the heads' overall scores.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="prediction_unique_image_version")
        ]

    def __str__(self) -> str:
        return f"{self.image_id[:12]}@{self.model_version_id}: {self.score:.3f}"

    @property
    def dimensions(self) -> dict[str, float]:
        """``dimension_scores`` in the standard's order (one query for the standard's keys)."""
        order = self.standard.dimensions.order_by("order").values_list("key", flat=True)
        return {k: self.dimension_scores[k] for k in order if k in self.dimension_scores}
