"""Per-level example images on the scoring page, chosen by admins from images whose MOS is final.

Eligibility (``level_example_error``): the image is a completed pool item of the dimension's standard with
an aggregate, and it is no gold image at all. Hidden gold is served from the active gold bank, retired
items come back on re-import, and every gold image is also a training/exam item: an example would teach
raters to recognise it (and show its level), so the whole bank, active or not, is refused, whatever the
image's provenance (a demo-provenance image may be gold too)."""

from __future__ import annotations

from django.db import transaction

from annotation.models import Dimension, Image, User
from annotation.standards.humanbeauty import LEVELS
from humanbeauty.errors import ApplicationError, ConflictError

from ..models import ImageAggregate, LevelExample, PoolItem

MAX_PER_LEVEL = 3


def _is_gold(image: Image) -> bool:
    from annotation.qualification.contract import gold_image_shas

    return image.provenance == Image.Provenance.GOLD or gold_image_shas().filter(image_id=image.pk).exists()


def level_example_error(*, dimension: Dimension, image: Image) -> str | None:
    """Why ``image`` cannot be an example on ``dimension`` (a user-facing sentence), or ``None``."""
    if _is_gold(image):
        return "expert gold images are never shown as examples (raters would learn to recognise them)."
    if not PoolItem.objects.filter(image=image, completed_at__isnull=False).exists():
        return "only images whose scoring is complete (final MOS) can be examples."
    if not ImageAggregate.objects.filter(image=image, standard_id=dimension.standard_id).exists():
        return "the image has no MOS on this dimension's standard."
    return None


@transaction.atomic
def level_example_add(*, dimension: Dimension, level: str, image: Image, chosen_by: User) -> LevelExample:
    """Choose ``image`` as an example of ``level`` on ``dimension``. The image must be a completed pool item
    (hidden gold and qualification items never enter the pool, and gold is refused outright)."""
    if level not in LEVELS:
        raise ApplicationError(
            f"level: one of {', '.join(LEVELS)}.", extra={"fields": {"level": [f"Unknown level {level!r}."]}}
        )
    reason = level_example_error(dimension=dimension, image=image)
    if reason is not None:
        raise ApplicationError(f"image: {reason}", extra={"fields": {"image": [reason]}})
    # Serialise additions per dimension so the per-level cap holds under concurrent admins.
    Dimension.objects.select_for_update().filter(pk=dimension.pk).first()
    if LevelExample.objects.filter(dimension=dimension, level=level, image=image).exists():
        raise ConflictError("This image is already an example of that level.")
    if LevelExample.objects.filter(dimension=dimension, level=level).count() >= MAX_PER_LEVEL:
        raise ConflictError(f"At most {MAX_PER_LEVEL} examples per level: remove one first.")
    return LevelExample.objects.create(dimension=dimension, level=level, image=image, chosen_by=chosen_by)


def level_example_remove(*, example: LevelExample) -> None:
    example.delete()
