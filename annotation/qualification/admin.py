"""Django admin: read-mostly views for support. State changes go through the services (the app's pages/API),
so the state machine and its audit log are never bypassed here."""

from __future__ import annotations

from django.contrib import admin

from .models import Attempt, Enrollment, GoldItem, HiddenGoldExposure, Invitation, Protocol, Round, Transition


@admin.register(GoldItem)
class GoldItemAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "standard", "n_experts", "is_active", "created_at"]
    list_filter = ["standard", "is_active"]
    raw_id_fields = ["image"]


class RoundInline(admin.TabularInline):
    model = Round
    extra = 0
    readonly_fields = ["number", "status", "opened_at", "closed_at"]
    can_delete = False


@admin.register(Protocol)
class ProtocolAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "cohort",
        "n_iterations",
        "n_scored",
        "max_mae",
        "min_mean_srcc",
        "is_active",
    ]
    inlines = [RoundInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["id", "protocol", "email", "name", "user", "accepted_at"]
    list_filter = ["protocol"]
    search_fields = ["email", "name"]
    readonly_fields = ["token", "user", "accepted_at"]


class TransitionInline(admin.TabularInline):
    model = Transition
    extra = 0
    readonly_fields = ["from_state", "to_state", "reason", "actor", "created_at"]
    can_delete = False


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "protocol",
        "state",
        "round_number",
        "rounds_passed",
        "monitor_status",
        "certified_at",
    ]
    list_filter = ["state", "protocol", "monitor_status"]
    search_fields = ["user__username"]
    readonly_fields = [f.name for f in Enrollment._meta.fields]
    inlines = [TransitionInline]


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ["id", "enrollment", "kind", "round_number", "number", "status", "passed", "submitted_at"]
    list_filter = ["kind", "status", "passed"]
    readonly_fields = [f.name for f in Attempt._meta.fields]


@admin.register(HiddenGoldExposure)
class HiddenGoldExposureAdmin(admin.ModelAdmin):
    list_display = ["id", "rater", "gold_item", "shown_at", "answered_at", "abs_error"]
    readonly_fields = [f.name for f in HiddenGoldExposure._meta.fields]
