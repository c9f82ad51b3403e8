"""The expert gold bank: import from CSV/JSON plus image files, idempotently (same image → same gold item)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.db import transaction

from annotation.models import Image, Standard, User
from annotation.services.images import image_files_discarded_on_error, image_ingest
from annotation.services.standards import standard_validate_scores
from humanbeauty.errors import ApplicationError

from ..models import GoldItem


def gold_rows_from_csv(*, text: str) -> list[dict[str, Any]]:
    """Wide CSV: ``image`` (file name) or ``image_sha256``, ``n_experts``, then per dimension ``<key>_mean``
    (or plain ``<key>``), ``<key>_sd`` and ``<key>_rationale``. Returns rows in the JSON shape."""
    reader = csv.DictReader(io.StringIO(text))
    rows: list[dict[str, Any]] = []
    for line, raw in enumerate(reader, start=2):
        row: dict[str, Any] = {"line": line, "mean": {}, "sd": {}, "rationale": {}}
        for column, value in raw.items():
            if column is None:
                continue
            column = column.strip()
            value = (value or "").strip()
            if column in {"image", "image_sha256"}:
                row[column] = value
            elif column == "n_experts":
                row["n_experts"] = value
            elif column.endswith("_rationale"):
                if value:
                    row["rationale"][column.removesuffix("_rationale")] = value
            elif column.endswith("_sd"):
                if value:
                    row["sd"][column.removesuffix("_sd")] = _number(value, line, column)
            elif value:
                row["mean"][column.removesuffix("_mean")] = _number(value, line, column)
        rows.append(row)
    return rows


def gold_rows_from_json(*, text: str) -> list[dict[str, Any]]:
    """JSON list of ``{"image" | "image_sha256", "n_experts", "mean": {...}, "sd": {...}, "rationale": {...}}``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApplicationError(f"The gold bank file is not valid JSON: {exc.msg}.") from exc
    if isinstance(data, dict):
        data = data.get("items", [])
    if not isinstance(data, list):
        raise ApplicationError('The gold bank JSON must be a list of items (or {"items": [...]}).')
    return [dict(item, line=i) for i, item in enumerate(data, start=1) if isinstance(item, dict)]


def _number(value: str, line: int, column: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise ApplicationError(f"Line {line}, column {column}: {value!r} is not a number.") from exc


@transaction.atomic
def gold_item_upsert(
    *,
    image: Image,
    standard: Standard,
    mean: dict[str, Any],
    sd: dict[str, Any] | None = None,
    rationale: dict[str, str] | None = None,
    n_experts: int = 5,
) -> tuple[GoldItem, bool]:
    """Create or update the gold item of ``image``; every dimension of the standard needs an expert mean."""
    dims = list(standard.dimensions.order_by("order"))
    clean_mean, _ = standard_validate_scores(
        dimensions=dims, score_min=standard.score_min, score_max=standard.score_max, scores=mean
    )
    sd = sd or {}
    clean_sd: dict[str, float] = {}
    for d in dims:
        value = sd.get(d.key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= float(value) <= 1:
            raise ApplicationError(f"sd.{d.key}: must be a number in [0, 1].")
        clean_sd[d.key] = float(value)
    keys = {d.key for d in dims}
    clean_rationale = {k: str(v)[:2000] for k, v in (rationale or {}).items() if k in keys and v}
    if image.provenance != Image.Provenance.GOLD and image.provenance != Image.Provenance.DEMO:
        raise ApplicationError(
            "Gold items must use gold (or demo) images, never images from the scoring pool."
        )
    if int(n_experts) < 1:
        raise ApplicationError("n_experts must be at least 1.")
    item, created = GoldItem.objects.update_or_create(
        image=image,
        defaults={
            "standard": standard,
            "expert_mean": clean_mean,
            "expert_sd": clean_sd,
            "rationale": clean_rationale,
            "n_experts": int(n_experts),
            "is_active": True,
        },
    )
    return item, created


def gold_bank_import(
    *,
    standard: Standard,
    rows: list[dict[str, Any]],
    files: dict[str, bytes],
    imported_by: User | None = None,
) -> dict[str, Any]:
    """Import gold rows; each row names an uploaded file (``image``) or an existing gold image (``image_sha256``).

    Returns ``{"created", "updated", "items"}``. All or nothing: any bad row aborts with its line number,
    and the image files written for earlier rows are deleted with their rolled-back rows.
    """
    with image_files_discarded_on_error():
        return _gold_bank_import(standard=standard, rows=rows, files=files, imported_by=imported_by)


@transaction.atomic
def _gold_bank_import(
    *,
    standard: Standard,
    rows: list[dict[str, Any]],
    files: dict[str, bytes],
    imported_by: User | None,
) -> dict[str, Any]:
    if not rows:
        raise ApplicationError("The gold bank file has no rows.")
    created = updated = 0
    ids: list[int] = []
    for row in rows:
        line = row.get("line", "?")
        try:
            if row.get("image_sha256"):
                image = Image.objects.filter(sha256=row["image_sha256"]).first()
                if image is None:
                    raise ApplicationError(f"no stored image {row['image_sha256'][:12]}…")
            else:
                name = row.get("image") or ""
                if name not in files:
                    raise ApplicationError(f"image file {name!r} was not uploaded")
                image, _ = image_ingest(
                    data=files[name],
                    provenance=Image.Provenance.GOLD,
                    source="gold-bank",
                    source_ref=name,
                    uploaded_by=imported_by,
                )
            item, was_created = gold_item_upsert(
                image=image,
                standard=standard,
                mean=row.get("mean") or {},
                sd=row.get("sd") or {},
                rationale=row.get("rationale") or {},
                n_experts=int(row.get("n_experts") or 5),
            )
        except (ApplicationError, ValueError, TypeError) as exc:
            message = exc.message if isinstance(exc, ApplicationError) else str(exc)
            raise ApplicationError(f"Gold row {line}: {message}", extra={"line": line}) from exc
        created += was_created
        updated += not was_created
        ids.append(item.pk)
    return {"created": created, "updated": updated, "items": len(ids)}
