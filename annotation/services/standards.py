"""Aesthetic standards as data: create one from a spec, validate scores against it."""

from __future__ import annotations

import math
from typing import Any

from django.db import transaction

from humanbeauty.errors import ApplicationError

from ..models import Dimension, Standard


@transaction.atomic
def standard_create_from_spec(*, spec: dict[str, Any]) -> Standard:
    """Create a standard and its dimensions from a JSON-like spec.

    ``spec = {"key", "name", "description"?, "score_min"?, "score_max"?, "dimensions": [{"key", "name",
    "parent"? (key of an earlier or later dimension), "guideline"?, "low_anchor"?, "high_anchor"?,
    "asks_comment"?, "comment_required"? (implies asks_comment)}, ...], "min_ratings"?}``; a dimension's
    ``order`` is its position in the list.
    """
    dims = spec.get("dimensions") or []
    if not isinstance(dims, list) or not dims:
        raise ApplicationError("A standard needs at least one dimension.", extra={"field": "dimensions"})
    keys = [d.get("key") for d in dims]
    if len(set(keys)) != len(keys) or not all(keys):
        raise ApplicationError("Dimension keys must be present and unique.", extra={"field": "dimensions"})
    if Standard.objects.filter(key=spec.get("key")).exists():
        raise ApplicationError(f"A standard with key {spec.get('key')!r} already exists.", status=409)
    standard = Standard(
        key=spec.get("key", ""),
        name=spec.get("name", ""),
        description=spec.get("description", ""),
        score_min=spec.get("score_min", 0.0),
        score_max=spec.get("score_max", 1.0),
        min_ratings=spec.get("min_ratings") or Standard._meta.get_field("min_ratings").default,
    )
    standard.full_clean()
    standard.save()
    created: dict[str, Dimension] = {}
    for order, d in enumerate(dims):
        dim = Dimension(
            standard=standard,
            key=d["key"],
            name=d.get("name", d["key"]),
            order=order,
            guideline=d.get("guideline", ""),
            low_anchor=d.get("low_anchor", ""),
            high_anchor=d.get("high_anchor", ""),
            asks_comment=bool(d.get("asks_comment", False) or d.get("comment_required", False)),
            comment_required=bool(d.get("comment_required", False)),
        )
        dim.full_clean(exclude=["parent"])
        dim.save()
        created[dim.key] = dim
    for d in dims:
        parent_key = d.get("parent")
        if parent_key:
            if parent_key not in created or parent_key == d["key"]:
                raise ApplicationError(
                    f"Dimension {d['key']!r} names an unknown parent {parent_key!r}.",
                    extra={"field": "dimensions"},
                )
            created[d["key"]].parent = created[parent_key]
            created[d["key"]].save(update_fields=["parent"])
    _check_acyclic(created)
    return standard


def _check_acyclic(dims: dict[str, Dimension]) -> None:
    for dim in dims.values():
        seen = {dim.key}
        node = dim.parent
        while node is not None:
            if node.key in seen:
                raise ApplicationError(f"Dimension hierarchy has a cycle at {node.key!r}.")
            seen.add(node.key)
            node = dims[node.key].parent


def standard_validate_scores(
    *,
    dimensions: list[Dimension],
    score_min: float,
    score_max: float,
    scores: Any,
    comments: Any = None,
    allow_missing: frozenset[str] = frozenset(),
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Validate one rating's scores (``{dimension_key: float}``) against a standard's dimensions.

    Missing, extra, non-numeric, NaN/inf or out-of-range values raise ApplicationError naming the field.
    Keys in ``allow_missing`` may be ``None`` ("can't judge" for that dimension). Returns the cleaned
    scores (in the standard's order) and comments.
    """
    if not isinstance(scores, dict):
        raise ApplicationError(
            "scores must be an object mapping dimension keys to numbers.",
            extra={"fields": {"scores": ["Expected an object."]}},
        )
    expected = [d.key for d in dimensions]
    field_errors: dict[str, list[str]] = {}
    for key in scores:
        if key not in expected:
            field_errors[f"scores.{key}"] = ["Unknown dimension for this standard."]
    cleaned: dict[str, float | None] = {}
    for key in expected:
        if key not in scores:
            field_errors[f"scores.{key}"] = ["This dimension is required."]
            continue
        value = scores[key]
        if value is None and key in allow_missing:
            cleaned[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            field_errors[f"scores.{key}"] = ["Must be a number."]
            continue
        number = float(value)
        if not math.isfinite(number):
            field_errors[f"scores.{key}"] = ["Must be a finite number."]
        elif not score_min <= number <= score_max:
            field_errors[f"scores.{key}"] = [f"Must be within [{score_min:g}, {score_max:g}]."]
        else:
            cleaned[key] = number
    clean_comments: dict[str, str] = {}
    if comments and not isinstance(comments, dict):
        field_errors["comments"] = ["Expected an object mapping dimension keys to text."]
    elif comments:
        allowed = {d.key for d in dimensions if d.asks_comment}
        for key, text in comments.items():
            if key not in allowed:
                field_errors[f"comments.{key}"] = ["This dimension does not take a comment."]
            elif not isinstance(text, str) or len(text) > 2000:
                field_errors[f"comments.{key}"] = ["Must be text of at most 2000 characters."]
            elif text.strip():
                clean_comments[key] = text.strip()
    if "comments" not in field_errors:
        # ArtiMuse-style standards: every dimension that was scored (not "can't judge") needs its comment.
        for d in dimensions:
            if d.comment_required and cleaned.get(d.key) is not None and d.key not in clean_comments:
                field_errors.setdefault(
                    f"comments.{d.key}", ["A written comment is required for this attribute."]
                )
    if field_errors:
        first = next(iter(field_errors))
        raise ApplicationError(f"{first}: {field_errors[first][0]}", extra={"fields": field_errors})
    return cleaned, clean_comments
