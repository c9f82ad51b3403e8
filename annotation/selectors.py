"""Reads for the core app (querysets with the related rows they need)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from .models import Dimension, Image, Job, Standard, User


def standard_list() -> QuerySet[Standard]:
    return Standard.objects.prefetch_related(
        Prefetch("dimensions", queryset=Dimension.objects.select_related("parent").order_by("order"))
    )


def standard_get(*, key: str) -> Standard:
    return standard_list().get(key=key)


def default_standard_key() -> str:
    """The key of the platform's default standard (``HB_DEFAULT_STANDARD``): the one way code names it."""
    return settings.HB_DEFAULT_STANDARD


def default_standard() -> Standard:
    """The platform's default standard row (``Standard.DoesNotExist`` if it was never seeded)."""
    return Standard.objects.get(key=default_standard_key())


def standard_dimensions(*, standard: Standard) -> list[Dimension]:
    return list(standard.dimensions.select_related("parent").order_by("order"))


def job_list_for(*, user: User) -> QuerySet[Job]:
    qs = Job.objects.select_related("created_by")
    if user.is_superuser or user.role in (User.Role.ADMIN,):
        return qs
    return qs.filter(created_by=user)


def job_kinds_for(*, user: User) -> list[str]:
    """The kinds among the jobs ``user`` may see (the jobs page's filter)."""
    return sorted(set(job_list_for(user=user).order_by().values_list("kind", flat=True).distinct()))


def image_list() -> QuerySet[Image]:
    return Image.objects.select_related("uploaded_by")


# Image access by need (docs/scoring.md, "Who may fetch an image"): the store is content-addressed, so a
# sha256 is an address; knowing one must not be enough to fetch an image, and the list must not hand out
# the addresses of gold images (a rater who could recognise gold would skip it).


def _gold_shas() -> QuerySet:
    from annotation.qualification.contract import gold_image_shas

    return gold_image_shas()


def _released_shas() -> QuerySet:
    # Through the reverse relation curation's ReleaseMember declares on Image: the ground floor names no
    # other app's module (the layering contract in pyproject.toml).
    return (
        Image.objects.filter(release_members__release__status="published")
        .order_by()
        .values_list("sha256", flat=True)
    )


def image_list_for(*, user: User) -> QuerySet[Image]:
    """Images ``user`` may list: admins all; researchers the released ones (never gold); others none."""
    qs = image_list()
    if user.is_platform_admin:
        return qs
    if user.role == User.Role.RESEARCHER:
        return qs.filter(sha256__in=_released_shas()).exclude(sha256__in=_gold_shas())
    return qs.none()


def image_visible_to(*, user: User, sha256: str) -> bool:
    """May ``user`` fetch this image's bytes? Admins: any. Researchers: released, non-gold images.
    Volunteers: the image they hold a scoring lease on (pool or hidden gold alike), their own uploads, and
    the qualification items they are being shown, and the per-level example images of the scoring page.
    Anything else answers as if the image did not exist."""
    if user.is_platform_admin:
        return True
    if user.role == User.Role.RESEARCHER:
        return image_list_for(user=user).filter(sha256=sha256).exists()
    if user.role != User.Role.VOLUNTEER:
        return False
    from annotation.qualification.contract import qualification_image_shas
    from annotation.scoring.models import Lease, LevelExample, Submission

    if Lease.objects.filter(rater=user, image_id=sha256).exists():
        return True
    # An example that later became gold (imported into the bank) is no longer shown or served as one.
    if LevelExample.objects.filter(image_id=sha256).exclude(image_id__in=_gold_shas()).exists():
        return True
    if Image.objects.filter(sha256=sha256, uploaded_by=user).exists():
        return True
    if Submission.objects.filter(submitter=user, image_id=sha256).exists():
        return True
    return qualification_image_shas(user=user).filter(image_id=sha256).exists()
