"""Per-level example images on the scoring page, chosen by admins from images whose MOS is final."""

from __future__ import annotations

from django.db import transaction

from annotation.models import Dimension, Image, User
from annotation.standards.humanbeauty import LEVELS
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import LevelExample, PoolItem

MAX_PER_LEVEL = 3


@transaction.atomic
def level_example_add(*, dimension: Dimension, level: str, image: Image, chosen_by: User) -> LevelExample:
    """Choose ``image`` as an example of ``level`` on ``dimension``. The image must be a completed pool item
    (hidden gold and qualification items never enter the pool, so they cannot be chosen)."""
    if level not in LEVELS:
        raise ApplicationError(
            f"level: one of {', '.join(LEVELS)}.", extra={"fields": {"level": [f"Unknown level {level!r}."]}}
        )
    if image.provenance == Image.Provenance.GOLD:
        raise ApplicationError("image: expert gold images are never shown as examples.")
    if not PoolItem.objects.filter(image=image, completed_at__isnull=False).exists():
        raise ApplicationError("image: only images whose scoring is complete (final MOS) can be examples.")
    if LevelExample.objects.filter(dimension=dimension, level=level, image=image).exists():
        raise ConflictError("This image is already an example of that level.")
    if LevelExample.objects.filter(dimension=dimension, level=level).count() >= MAX_PER_LEVEL:
        raise ConflictError(f"At most {MAX_PER_LEVEL} examples per level: remove one first.")
    return LevelExample.objects.create(dimension=dimension, level=level, image=image, chosen_by=chosen_by)


def level_example_remove(*, example: LevelExample) -> None:
    example.delete()
