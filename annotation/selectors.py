"""Reads for the core app (querysets with the related rows they need)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .models import Dimension, Image, Job, Standard, User


def standard_list() -> QuerySet[Standard]:
    return Standard.objects.prefetch_related(
        Prefetch("dimensions", queryset=Dimension.objects.select_related("parent").order_by("order"))
    )


def standard_get(*, key: str) -> Standard:
    return standard_list().get(key=key)


def standard_dimensions(*, standard: Standard) -> list[Dimension]:
    return list(standard.dimensions.select_related("parent").order_by("order"))


def job_list_for(*, user: User) -> QuerySet[Job]:
    qs = Job.objects.select_related("created_by")
    if user.is_superuser or user.role in (User.Role.ADMIN,):
        return qs
    return qs.filter(created_by=user)


def image_list() -> QuerySet[Image]:
    return Image.objects.select_related("uploaded_by")
