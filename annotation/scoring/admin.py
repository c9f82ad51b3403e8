"""Django admin for collection and scoring: browse everything; counters and derived rows are read-only (they
change only through the services)."""

from __future__ import annotations

from django.contrib import admin

from .models import (
    AggregationRun,
    Campaign,
    ImageAggregate,
    ImageFingerprint,
    Lease,
    PoolItem,
    RaterQuality,
    Rating,
    Skip,
    Submission,
)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "target_count",
        "deadline",
        "ratings_target",
        "ratings_cap",
        "is_active",
        "created_at",
    )
    filter_horizontal = ("volunteers",)


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "submitter", "status", "reviewer", "created_at")
    list_filter = ("status", "campaign")
    readonly_fields = ("checks", "faces", "upload_sha256", "image", "job", "detector_version")


@admin.register(PoolItem)
class PoolItemAdmin(admin.ModelAdmin):
    list_display = ("image", "campaign", "ratings_done", "target", "priority", "active", "completed_at")
    list_filter = ("active", "campaign")
    readonly_fields = ("ratings_done", "target", "completed_at")


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ("image", "rater", "reported", "dwell_ms", "created_at")
    list_filter = ("reported",)
    readonly_fields = [f.name for f in Rating._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ("rater", "image", "expires_at", "heartbeat_at")


@admin.register(ImageAggregate)
class ImageAggregateAdmin(admin.ModelAdmin):
    list_display = ("image", "n_ratings", "max_ci_half_width", "updated_at")


@admin.register(RaterQuality)
class RaterQualityAdmin(admin.ModelAdmin):
    list_display = (
        "rater",
        "n_ratings",
        "mean_delta",
        "mean_upsilon",
        "mean_loo_srcc",
        "gold_error",
        "flagged",
    )
    list_filter = ("flagged",)


@admin.register(AggregationRun)
class AggregationRunAdmin(admin.ModelAdmin):
    list_display = ("id", "standard", "n_images", "n_raters", "n_ratings", "seconds", "created_at")


admin.site.register(Skip)
admin.site.register(ImageFingerprint)
