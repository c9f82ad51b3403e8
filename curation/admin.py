"""Admin: browse sources, items, face detections and releases. Releases and their members are read-only
here (published releases are immutable; builds go through the release job)."""

from __future__ import annotations

from django.contrib import admin

from .models import FaceDetection, Release, ReleaseMember, Source, SourceItem


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "importer", "kind", "score_min", "score_max", "created_at")
    search_fields = ("key", "name")
    readonly_fields = ("normalisation", "created_at")


@admin.register(SourceItem)
class SourceItemAdmin(admin.ModelAdmin):
    list_display = ("source", "native_id", "raw_score", "kept", "score", "level")
    list_filter = ("source", "kept", "level")
    search_fields = ("native_id", "image__sha256")
    raw_id_fields = ("image",)
    list_select_related = ("source",)


@admin.register(FaceDetection)
class FaceDetectionAdmin(admin.ModelAdmin):
    list_display = ("image", "detector_version", "face_count", "kept", "reason", "created_at")
    list_filter = ("kept", "detector_version")
    search_fields = ("image__sha256", "error")
    raw_id_fields = ("image", "job")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ("version", "status", "release_sha256", "content_date", "created_by", "published_at")
    list_filter = ("status",)


@admin.register(ReleaseMember)
class ReleaseMemberAdmin(ReadOnlyAdmin):
    list_display = ("release", "image", "part", "split", "source", "mos")
    list_filter = ("release", "part", "split")
    raw_id_fields = ("image",)
