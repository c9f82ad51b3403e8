"""Qualification: the expert gold bank, protocols and their rounds, exams, invitations, the volunteer state
machine and hidden-gold monitoring during formal work (the paper's "Iterative Protocol"; docs/qualification.md).

Fields, constraints and trivial properties only; every write goes through ``services``.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models import Image, Standard
from annotation.pass_rules import PASS_RULES, MaxAbsBias, MaxMae, MinMeanSrcc
from humanbeauty.bounds import bound_constraints


class GoldItem(models.Model):
    """A gold image: per-dimension expert mean, SD (over ``n_experts``) and a short rationale (training feedback).

    ``expert_mean`` / ``expert_sd`` / ``rationale`` map dimension keys of ``standard`` to values.
    These are never shown to a volunteer before the exam that holds the item is submitted, and never
    for hidden gold.
    """

    image = models.OneToOneField(Image, on_delete=models.PROTECT, related_name="gold_item")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="gold_items")
    expert_mean = models.JSONField()
    expert_sd = models.JSONField(default=dict, blank=True)
    rationale = models.JSONField(default=dict, blank=True)
    n_experts = models.PositiveSmallIntegerField(default=5)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"gold#{self.pk} {self.image_id[:12]}"


# Sane bounds of every numeric rule parameter (serializer + database check). Scores live in [0, 1].
PROTOCOL_BOUNDS = {
    **{kind: rule.bounds for kind, rule in PASS_RULES.items()},  # max_mae, min_mean_srcc, max_abs_bias
    "n_iterations": (1, 20),
    "n_training": (0, 200),
    "n_scored": (1, 200),
    "n_warmup": (0, 50),
    "retake_delay": (dt.timedelta(0), dt.timedelta(days=90)),
    "max_attempts": (1, 10),
    "n_retraining": (1, 50),
    "hidden_gold_share": (0.0, 1.0),
    "hidden_gold_window": (1, 1000),
    "warn_margin": (0.0, 1.0),
    "suspend_margin": (0.0, 1.0),
    "recertification_interval": (dt.timedelta(days=1), dt.timedelta(days=5 * 366)),
}


class Protocol(models.Model):
    """An iterative training-testing protocol for one cohort, with every rule parameter (defaults: §8)."""

    name = models.CharField(max_length=200)
    cohort = models.CharField(max_length=200, blank=True, help_text="Cohort label, e.g. '2026 spring'.")
    standard = models.ForeignKey(Standard, on_delete=models.PROTECT, related_name="+")
    # Pass rules (annotation.pass_rules): one column per registered rule kind, holding its threshold.
    max_mae = models.FloatField(default=MaxMae.default)
    min_mean_srcc = models.FloatField(default=MinMeanSrcc.default)
    max_abs_bias = models.FloatField(default=MaxAbsBias.default)
    # Rounds and exams.
    n_iterations = models.PositiveSmallIntegerField(
        default=3, help_text="Rounds (training → exam) to pass before certification; each on new items."
    )
    n_training = models.PositiveSmallIntegerField(
        default=10, help_text="Training images (with feedback) per round."
    )
    n_scored = models.PositiveSmallIntegerField(default=24)
    n_warmup = models.PositiveSmallIntegerField(default=3)
    retake_delay = models.DurationField(default=dt.timedelta(hours=24))
    max_attempts = models.PositiveSmallIntegerField(
        default=2, help_text="Exam attempts per round, then exit."
    )
    n_retraining = models.PositiveSmallIntegerField(
        default=6,
        help_text="Retraining images (with feedback) after a failed exam, chosen for the failed dimensions; "
        "finishing them (and the retake delay) unlocks the retake.",
    )
    # Formal work.
    hidden_gold_share = models.FloatField(default=0.05)
    hidden_gold_window = models.PositiveSmallIntegerField(default=10)
    warn_margin = models.FloatField(default=0.02)
    suspend_margin = models.FloatField(default=0.05)
    recertification_interval = models.DurationField(
        null=True,
        blank=True,
        default=dt.timedelta(days=90),
        help_text="Certified raters re-qualify after this long (empty: never).",
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hidden_gold_share__gte=0) & Q(hidden_gold_share__lte=1),
                name="protocol_share_range",
            ),
            models.CheckConstraint(condition=Q(n_scored__gte=1), name="protocol_n_scored_min"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="protocol_max_attempts_min"),
            models.CheckConstraint(condition=Q(n_iterations__gte=1), name="protocol_n_iterations_min"),
            *bound_constraints(
                "protocol",
                {k: v for k, v in PROTOCOL_BOUNDS.items() if k != "hidden_gold_share"},
                nullable=frozenset({"recertification_interval"}),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Round(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["protocol", "number"]
        constraints = [models.UniqueConstraint(fields=["protocol", "number"], name="round_unique_number")]

    def __str__(self) -> str:
        return f"{self.protocol} · round {self.number}"


class Invitation(models.Model):
    """An invitation by link: ``/qualification/join/<token>/`` lets the person set a password and join."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    token = models.CharField(max_length=64, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitation"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "email"], condition=~Q(email=""), name="invitation_unique_email"
            )
        ]

    def __str__(self) -> str:
        return f"invitation {self.email or self.name or self.pk}"


class Enrollment(models.Model):
    """A volunteer's place in the qualification state machine (one per volunteer).

    invited → training → exam → certified | exited (exam → training when a round N < n_iterations is passed;
    exam → retraining → exam after a failed attempt with attempts left);
    certified → suspended → requalifying → certified | exited (requalifying → retraining → requalifying after
    a failed re-qualification attempt). See ``services.states.TRANSITIONS``.
    """

    class State(models.TextChoices):
        INVITED = "invited", "Invited"
        TRAINING = "training", "Training"
        EXAM = "exam", "Exam"
        RETRAINING = "retraining", "Retraining"
        CERTIFIED = "certified", "Certified"
        SUSPENDED = "suspended", "Suspended"
        REQUALIFYING = "requalifying", "Re-qualifying"
        EXITED = "exited", "Exited"

    class Monitor(models.TextChoices):
        OK = "ok", "OK"
        WARN = "warn", "Warning"
        SUSPEND = "suspend", "Suspended by monitor"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollment")
    protocol = models.ForeignKey(
        Protocol, on_delete=models.PROTECT, null=True, blank=True, related_name="enrollments"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.INVITED, db_index=True)
    round_number = models.PositiveSmallIntegerField(default=1, help_text="The round this volunteer is in.")
    rounds_passed = models.PositiveSmallIntegerField(default=0)
    certified_at = models.DateTimeField(null=True, blank=True)
    exited_at = models.DateTimeField(null=True, blank=True)
    monitor_status = models.CharField(max_length=8, choices=Monitor.choices, default=Monitor.OK)
    monitor_mae = models.FloatField(null=True, blank=True, help_text="Rolling hidden-gold MAE.")
    gold_skip_status = models.CharField(
        max_length=8,
        choices=[("ok", "OK"), ("flag", "Flagged"), ("suspend", "Suspended")],
        default="ok",
        help_text="Hidden gold skipped markedly more than pool items (annotation/gold_skipping.py).",
    )
    gold_skip_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user} [{self.state}]"


class Transition(models.Model):
    """Audit log: one row per state change (and per monitor warning, with ``from_state == to_state``)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.enrollment_id}: {self.from_state or '∅'} → {self.to_state}"


class TrainingAnswer(models.Model):
    """A training image answered with immediate feedback (the item's expert scores are shown after it).

    ``retraining`` is set for the targeted items of a retraining after a failed exam (not counted as the
    round's ordinary training)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="training_answers")
    round_number = models.PositiveSmallIntegerField()
    gold_item = models.ForeignKey(GoldItem, on_delete=models.PROTECT, related_name="+")
    retraining = models.ForeignKey(
        "Retraining", on_delete=models.CASCADE, null=True, blank=True, related_name="items"
    )
    focus_dimension = models.CharField(
        max_length=64, blank=True, help_text="Retraining: the failed dimension this item was chosen for."
    )
    scores = models.JSONField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "gold_item"], name="training_unique_item"),
        ]

    def __str__(self) -> str:
        return f"training#{self.pk} {self.enrollment_id}"


class Attempt(models.Model):
    """One exam attempt on a fresh form (``form``: gold item ids, warm-ups unscored)."""

    class Kind(models.TextChoices):
        QUALIFICATION = "qualification", "Qualification exam"
        REQUALIFICATION = "requalification", "Re-qualification exam"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SUBMITTED = "submitted", "Submitted"
        VOID = "void", "Closed unsubmitted"  # the round closed or the volunteer left while it was open

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="attempts")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.QUALIFICATION)
    round_number = models.PositiveSmallIntegerField()
    number = models.PositiveSmallIntegerField(help_text="Attempt number within the round (1-based).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    passed = models.BooleanField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="ExamResult.to_dict() after submission.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "kind", "round_number", "number"], name="attempt_unique"
            ),
            models.UniqueConstraint(
                fields=["enrollment"], condition=Q(status="open"), name="attempt_one_open_per_volunteer"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt#{self.pk} {self.enrollment_id} r{self.round_number}.{self.number}"


class Retraining(models.Model):
    """Targeted retraining after a failed exam: ``n_items`` gold images chosen for the failed dimensions
    (``focus_dimensions``), each answered with feedback. The retake is unlocked when it is complete and the
    retake delay has passed."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="retrainings")
    attempt = models.OneToOneField(Attempt, on_delete=models.CASCADE, related_name="retraining")
    focus_dimensions = models.JSONField(default=list, help_text="Dimension keys the failed exam flagged.")
    n_items = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"retraining#{self.pk} {self.enrollment_id} ({', '.join(self.focus_dimensions)})"


class AttemptItem(models.Model):
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="items")
    gold_item = models.ForeignKey(GoldItem, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    is_warmup = models.BooleanField(default=False)
    scores = models.JSONField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["attempt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "gold_item"], name="attempt_item_unique_gold"),
            models.UniqueConstraint(fields=["attempt", "position"], name="attempt_item_unique_position"),
        ]

    def __str__(self) -> str:
        return f"attempt#{self.attempt_id}[{self.position}]"


class HiddenGoldExposure(models.Model):
    """A gold image mixed into a certified rater's scoring queue: never repeated to the same rater.

    Created when the item is served (its lease is written), answered through the same submit as pool
    items (``scores`` rounded like ratings, ``reported``), scored (``abs_error``) off the request path."""

    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hidden_gold")
    gold_item = models.ForeignKey(GoldItem, on_delete=models.PROTECT, related_name="exposures")
    shown_at = models.DateTimeField(auto_now_add=True)
    scores = models.JSONField(null=True, blank=True)
    abs_error = models.FloatField(null=True, blank=True, help_text="MAE over dimensions vs the expert mean.")
    answered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reported = models.BooleanField(default=False)
    report_reason = models.CharField(max_length=500, blank=True)
    dwell_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["rater", "gold_item"], name="hidden_gold_unique_exposure")
        ]

    def __str__(self) -> str:
        return f"hidden gold {self.gold_item_id} → {self.rater_id}"
