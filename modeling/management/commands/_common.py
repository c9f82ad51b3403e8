"""Shared bits of the modeling commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from modeling.models import ModelVersion


def version_or_active(tag: str | None) -> ModelVersion:
    if tag:
        mv = ModelVersion.objects.filter(version=tag).first()
        if mv is None:
            raise CommandError(f"no model version {tag!r}")
        return mv
    mv = ModelVersion.objects.filter(is_active=True).first()
    if mv is None:
        raise CommandError("no active model version: pass --model-version or activate one (model_activate)")
    return mv
