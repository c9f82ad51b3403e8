"""Submitting ratings: validation, idempotency, can't judge, report, aggregates, adaptive top-up, hidden gold."""

from __future__ import annotations

import math

import pytest

from annotation.models import Standard
from annotation.scoring.models import ImageAggregate, PoolItem, Rating
from annotation.scoring.services.aggregation import scoring_reaggregate
from annotation.scoring.services.collection import campaign_create
from annotation.scoring.services.queue import next_image
from annotation.scoring.services.ratings import rating_submit
from humanbeauty.errors import ApplicationError, ConflictError

from .conftest import make_pool, valid_scores

pytestmark = pytest.mark.django_db


@pytest.fixture
def leased(rater, no_gold):
    make_pool(1, target=3)
    return next_image(rater=rater)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s.pop("overall"), "scores.overall"),
        (lambda s: s.update(extra_dim=0.5), "scores.extra_dim"),
        (lambda s: s.update(outfit=float("nan")), "scores.outfit"),
        (lambda s: s.update(looks=1.2), "scores.looks"),
        (lambda s: s.update(looks=-0.1), "scores.looks"),
        (lambda s: s.update(environment="good"), "scores.environment"),
    ],
)
def test_invalid_scores_name_the_field(rater, leased, change, field) -> None:
    scores = valid_scores()
    change(scores)
    with pytest.raises(ApplicationError) as exc:
        rating_submit(rater=rater, image_sha256=leased.image.sha256, scores=scores)
    assert exc.value.status == 400
    assert field in exc.value.extra["fields"]
    assert not Rating.objects.exists() and PoolItem.objects.get().ratings_done == 0


def test_resubmission_is_idempotent(rater, leased) -> None:
    first = rating_submit(rater=rater, image_sha256=leased.image.sha256, scores=valid_scores(1))
    second = rating_submit(rater=rater, image_sha256=leased.image.sha256, scores=valid_scores(2))
    assert first.created and not second.created
    assert second.scores == first.scores and second.created_at == first.created_at
    assert Rating.objects.count() == 1 and PoolItem.objects.get().ratings_done == 1


def test_cant_judge_and_report_are_recorded(rater, leased) -> None:
    scores = valid_scores() | {"environment": None, "outfit": None}
    receipt = rating_submit(
        rater=rater,
        image_sha256=leased.image.sha256,
        scores=scores,
        reported=True,
        report_reason="watermark",
        dwell_ms=1500,
    )
    rating = Rating.objects.get()
    assert rating.scores[9] is None and rating.scores[6] is None and rating.reported
    assert rating.report_reason == "watermark" and receipt.scores["environment"] is None


def test_all_cant_judge_is_refused(rater, leased) -> None:
    with pytest.raises(ApplicationError):
        rating_submit(rater=rater, image_sha256=leased.image.sha256, scores=dict.fromkeys(valid_scores()))


def test_without_lease_or_outside_pool(rater, make_user, no_gold) -> None:
    """One answer whatever the image (in the pool, not in it, gold or not): 409 without a lease, and 403
    first for a rater who is not certified."""
    item = make_pool(1)[0]
    for sha in (item.image_id, "0" * 64):
        with pytest.raises(ConflictError) as exc:
            rating_submit(rater=rater, image_sha256=sha, scores=valid_scores())
        assert exc.value.message == "You hold no lease on this image; ask for the next image."
        with pytest.raises(ApplicationError) as exc:
            rating_submit(rater=make_user("volunteer"), image_sha256=sha, scores=valid_scores())
        assert exc.value.status == 403


def _rate_to_target(make_rater, sha: str, n: int, spread: float) -> None:
    for i in range(n):
        r = make_rater()
        got = next_image(rater=r)
        assert got.image.sha256 == sha
        value = 0.5 + (spread if i % 2 else -spread)
        rating_submit(rater=r, image_sha256=sha, scores=valid_scores(value=round(value, 2)))


def _lower_standard_minimum(n: int) -> None:
    """These tests exercise completion and top-up with small k; the standard's minimum (9) is lowered so a
    campaign may target k = 3."""
    from annotation.models import Standard

    Standard.objects.filter(key="humanbeauty-v1").update(min_ratings=n)


def test_completion_computes_mos_and_stops(
    make_rater, admin_user, no_gold, django_capture_on_commit_callbacks
) -> None:
    _lower_standard_minimum(3)
    campaign = campaign_create(
        created_by=admin_user,
        name="c",
        principles="p",
        target_count=5,
        ratings_target=3,
        ratings_step=3,
        ratings_cap=6,
    )
    item = make_pool(1, target=3, campaign=campaign)[0]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # completion runs after the commit
        _rate_to_target(make_rater, item.image_id, 3, 0.01)
    assert len(callbacks) == 1
    item.refresh_from_db()
    assert item.ratings_done == 3 and item.target == 3 and item.completed_at is not None
    agg = ImageAggregate.objects.get(image_id=item.image_id)
    assert agg.n_ratings == 3 and len(agg.mos) == 12
    assert all(math.isclose(m, 0.5 - 0.01 / 3, abs_tol=1e-6) for m in agg.mos)
    assert next_image(rater=make_rater()) is None


def test_wide_ci_tops_up_until_cap(
    make_rater, admin_user, no_gold, django_capture_on_commit_callbacks
) -> None:
    _lower_standard_minimum(3)
    campaign = campaign_create(
        created_by=admin_user,
        name="c",
        principles="p",
        target_count=5,
        ratings_target=3,
        ratings_step=3,
        ratings_cap=6,
        max_ci_half_width=0.15,
    )
    item = make_pool(1, target=3, campaign=campaign)[0]
    with django_capture_on_commit_callbacks(execute=True):
        _rate_to_target(make_rater, item.image_id, 3, 0.4)  # scores 0.1 / 0.9: very wide CI
    item.refresh_from_db()
    assert item.target == 6 and item.completed_at is None
    with django_capture_on_commit_callbacks(execute=True):
        _rate_to_target(make_rater, item.image_id, 3, 0.4)
    item.refresh_from_db()
    assert item.ratings_done == 6 and item.target == 6 and item.completed_at is not None  # cap reached
    assert next_image(rater=make_rater()) is None


def test_reaggregate_writes_psi_quality_and_reliability(make_rater, no_gold) -> None:
    items = make_pool(6, target=3)
    raters = [make_rater() for _ in range(4)]
    for r_i, r in enumerate(raters):
        for _ in range(3):
            got = next_image(rater=r)
            if got is None:
                break
            j = [i.image_id for i in items].index(got.image.sha256)
            rating_submit(
                rater=r,
                image_sha256=got.image.sha256,
                scores=valid_scores(value=round(min(0.95, 0.2 + 0.1 * j + 0.02 * r_i), 2)),
            )
    standard = Standard.objects.get(key="humanbeauty-v1")
    run = scoring_reaggregate(standard=standard)
    again = scoring_reaggregate(standard=standard)
    assert run.n_ratings == again.n_ratings == Rating.objects.count()
    assert set(run.reliability) >= {"overall", "looks"}
    agg = ImageAggregate.objects.filter(n_ratings__gte=1).first()
    assert agg is not None and len(agg.psi) == 12
    from annotation.scoring.models import RaterQuality

    assert RaterQuality.objects.count() == len(set(Rating.objects.values_list("rater_id", flat=True)))


def test_hidden_gold_looks_identical_and_goes_to_the_contract(rater, monkeypatch) -> None:
    from annotation.qualification.models import HiddenGoldExposure
    from annotation.qualification.services import monitoring
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(3)
    make_pool(2, target=3)
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.0)  # always gold
    gold = next_image(rater=rater)
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.999)
    assert gold.image.provenance == "gold"
    # the same dataclass fields, filled the same way
    assert set(vars(gold)) == {"image", "standard", "expires_at"} and gold.standard.key == "humanbeauty-v1"
    receipt = rating_submit(rater=rater, image_sha256=gold.image.sha256, scores=valid_scores())
    assert receipt.created and not Rating.objects.exists()
    assert HiddenGoldExposure.objects.get(rater=rater).answered_at is not None
    again = rating_submit(rater=rater, image_sha256=gold.image.sha256, scores=valid_scores())
    assert not again.created
    normal = next_image(rater=rater)
    assert normal.image.provenance == "collected"
