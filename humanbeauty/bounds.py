"""Sane bounds for numeric parameters, declared once per model: the API serializer refuses a value outside
them (400 whose message names the field) and a database check constraint backs them, so no other path
(admin, shell, a bug) can store e.g. 32766 exam rounds that would make every dashboard crawl."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

Bounds = dict[str, tuple[Any, Any]]


def bound_constraints(prefix: str, bounds: Bounds, *, nullable: frozenset[str] = frozenset()) -> list:
    """One ``CheckConstraint`` per field: ``low <= field <= high`` (``NULL`` allowed for ``nullable``)."""
    out = []
    for field, (low, high) in bounds.items():
        condition = Q(**{f"{field}__gte": low, f"{field}__lte": high})
        if field in nullable:
            condition |= Q(**{f"{field}__isnull": True})
        out.append(models.CheckConstraint(condition=condition, name=f"{prefix}_{field}_bounds"))
    return out


def bound_kwargs(bounds: Bounds) -> dict[str, dict[str, Any]]:
    """``extra_kwargs`` for a ModelSerializer (or kwargs for a plain field): min_value / max_value."""
    return {field: {"min_value": low, "max_value": high} for field, (low, high) in bounds.items()}
