"""Per-level example images: only completed pool images, never gold; volunteers may fetch chosen examples."""

from __future__ import annotations

import pytest
from django.utils import timezone

from annotation.models import Dimension, Image, Standard
from annotation.scoring.models import LevelExample, PoolItem
from annotation.scoring.selectors import level_examples_by_dimension
from annotation.scoring.services.examples import MAX_PER_LEVEL, level_example_add, level_example_remove
from annotation.selectors import image_visible_to
from humanbeauty.errors import ApplicationError, ConflictError
from tests.scoring.conftest import make_pool

pytestmark = pytest.mark.django_db


def _dimension() -> Dimension:
    return Dimension.objects.filter(standard__key="humanbeauty-v1").order_by("order").first()


def test_only_completed_pool_images_can_be_examples_and_volunteers_may_fetch_them(
    admin_user, volunteer
) -> None:
    done, open_ = make_pool(2, prefix="examples")
    PoolItem.objects.filter(pk=done.pk).update(completed_at=timezone.now())
    dim = _dimension()
    with pytest.raises(ApplicationError, match="scoring is complete"):
        level_example_add(dimension=dim, level="good", image=open_.image, chosen_by=admin_user)
    with pytest.raises(ApplicationError, match="level: one of"):
        level_example_add(dimension=dim, level="great", image=done.image, chosen_by=admin_user)
    assert not image_visible_to(user=volunteer, sha256=done.image_id)
    example = level_example_add(dimension=dim, level="good", image=done.image, chosen_by=admin_user)
    with pytest.raises(ConflictError, match="already an example"):
        level_example_add(dimension=dim, level="good", image=done.image, chosen_by=admin_user)
    assert image_visible_to(user=volunteer, sha256=done.image_id)
    assert not image_visible_to(user=volunteer, sha256=open_.image_id)
    standard = Standard.objects.get(key="humanbeauty-v1")
    assert level_examples_by_dimension(standard=standard) == {dim.key: {"good": [done.image_id]}}
    level_example_remove(example=example)
    assert not image_visible_to(user=volunteer, sha256=done.image_id)
    assert level_examples_by_dimension(standard=standard) == {}


def test_gold_is_refused_and_a_level_holds_a_few_examples(admin_user) -> None:
    items = make_pool(MAX_PER_LEVEL + 2, prefix="examples-cap")
    PoolItem.objects.update(completed_at=timezone.now())
    dim = _dimension()
    for item in items[:MAX_PER_LEVEL]:
        level_example_add(dimension=dim, level="fair", image=item.image, chosen_by=admin_user)
    with pytest.raises(ConflictError, match=f"At most {MAX_PER_LEVEL}"):
        level_example_add(dimension=dim, level="fair", image=items[MAX_PER_LEVEL].image, chosen_by=admin_user)
    gold = items[-1].image
    Image.objects.filter(pk=gold.pk).update(provenance=Image.Provenance.GOLD)
    gold.refresh_from_db()
    with pytest.raises(ApplicationError, match="gold"):
        level_example_add(dimension=dim, level="bad", image=gold, chosen_by=admin_user)
    assert LevelExample.objects.count() == MAX_PER_LEVEL
