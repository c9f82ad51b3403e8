"""Per-source min-max normalisation over the face-filtered items (paper Eq. 1) and rating levels."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..models import FaceDetection, Source, SourceItem
from ..normalise import DegenerateSourceError, apply_ranges, levels_for, source_ranges


@transaction.atomic
def source_normalise(*, source: Source, detector_version: str) -> dict[str, Any]:
    """Set ``kept`` from the detector version's verdicts, then ``score`` = (x − min) / (max − min) over the
    kept items' native scores and ``level`` (cuts .2/.4/.6/.8, lower bound inclusive). Items not kept (or
    not filtered yet) get no score. Recomputed from scratch every time (idempotent). The range used is
    stored on the source and frozen into releases."""
    items = list(
        SourceItem.objects.select_for_update()
        .filter(source=source)
        .only("id", "image_id", "raw_score", "kept", "score", "level")
    )
    verdicts = dict(
        FaceDetection.objects.filter(
            detector_version=detector_version, image_id__in=[i.image_id for i in items]
        ).values_list("image_id", "kept")
    )
    kept = [i for i in items if verdicts.get(i.image_id) is True]
    info: dict[str, Any] = {
        "detector_version": detector_version,
        "items": len(items),
        "filtered": sum(1 for i in items if i.image_id in verdicts),
        "kept": len(kept),
    }
    scores: dict[int, float] = {}
    if kept:
        ranges = source_ranges((source.key, i.raw_score) for i in kept)
        try:
            values = apply_ranges([(source.key, i.raw_score) for i in kept], ranges)
        except DegenerateSourceError as exc:
            info["error"] = str(exc)
        else:
            scores = {i.pk: v for i, v in zip(kept, values, strict=True)}
            r = ranges[source.key]
            info |= {"min": r.min, "max": r.max, "n": r.n}
    levels = dict(zip(scores, levels_for(scores.values()), strict=True))
    changed = []
    for item in items:
        new_kept = verdicts.get(item.image_id)
        new_score = scores.get(item.pk)
        new_level = levels.get(item.pk, "")
        if (item.kept, item.score, item.level) != (new_kept, new_score, new_level):
            item.kept, item.score, item.level = new_kept, new_score, new_level
            changed.append(item)
    SourceItem.objects.bulk_update(
        changed, ["kept", "score", "level"], batch_size=500
    )  # CASE WHEN cost grows with the batch
    source.normalisation = info
    source.save(update_fields=["normalisation"])
    return info | {"changed": len(changed)}
