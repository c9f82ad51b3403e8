"""Re-aggregation through the service: ψ with its CI stored, screening reasons per rater, convergence kept."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.models import Standard
from annotation.scoring.models import AggregationRun, ImageAggregate, RaterQuality, Rating
from annotation.scoring.selectors import rater_screening_flags
from annotation.scoring.services.aggregation import scoring_reaggregate

from .conftest import make_pool

pytestmark = pytest.mark.django_db


def _crowd(make_rater, n_images: int = 120, n_raters: int = 16, k: int = 8) -> dict[str, object]:
    """Honest raters plus one straight-liner and one random clicker, written as Rating rows."""
    rng = np.random.default_rng(0)
    items = make_pool(n_images, target=k)
    raters = [make_rater() for _ in range(n_raters)]
    truth = np.clip(0.5 + 0.15 * rng.standard_normal((n_images, 12)), 0.1, 0.9)
    straight, random_clicker = raters[0], raters[1]
    rows = []
    for j, item in enumerate(items):
        for r in rng.choice(n_raters, k, replace=False):
            rater = raters[r]
            if rater is straight:
                scores = 0.6 + rng.normal(0, 0.01, 12)
            elif rater is random_clicker:
                scores = rng.uniform(0, 1, 12)
            else:
                scores = truth[j] + rng.normal(0, 0.03) + rng.normal(0, 0.12, 12)
            rows.append(
                Rating(
                    pool_item=item,
                    image_id=item.image_id,
                    rater=rater,
                    standard_id=item.standard_id,
                    scores=[round(float(v), 2) for v in np.clip(scores, 0, 1)],
                )
            )
    Rating.objects.bulk_create(rows)
    return {"straight": straight, "random": random_clicker, "honest": raters[2:]}


@pytest.mark.parametrize("workers", [1, 2])
def test_reaggregate_stores_psi_ci_and_screening_reasons(make_rater, no_gold, workers) -> None:
    crowd = _crowd(make_rater)
    run = scoring_reaggregate(standard=Standard.objects.get(key="humanbeauty-v1"), workers=workers)

    agg = ImageAggregate.objects.first()
    assert len(agg.psi) == len(agg.psi_se) == len(agg.psi_ci_half_width) == 12
    assert all(0.0 <= p <= 1.0 for p in agg.psi)
    assert all(c is not None and c > 0 for c in agg.psi_ci_half_width)  # 8 ratings: a t-interval

    straight = RaterQuality.objects.get(rater=crowd["straight"])
    assert straight.flagged and straight.screening["pattern"] == "straight-lining"
    assert straight.screening["agreement"]["fired"] and not straight.screening["inconsistency"]["fired"]
    assert any(f.startswith("low agreement: LOO SRCC") for f in straight.flags)
    clicker = RaterQuality.objects.get(rater=crowd["random"])
    assert clicker.flagged and clicker.screening["pattern"] == "random clicking"
    assert clicker.screening["inconsistency"]["fired"] and any(
        f.startswith("inconsistent: υ") for f in clicker.flags
    )
    honest = RaterQuality.objects.filter(rater__in=crowd["honest"])
    assert honest.count() == 14 and not honest.filter(flagged=True).exists()
    assert all(q.flags == [] and q.screening["evaluated"] for q in honest)

    assert sorted(run.screening["flagged"]) == sorted([crowd["straight"].pk, crowd["random"].pk])
    assert run.screening["unconverged"] == [] and len(run.screening["sureal"]) == 12
    assert all(
        v["converged"] and v["n_iter"] <= run.screening["sureal_max_iter"]
        for v in run.screening["sureal"].values()
    )
    assert run.screening["loo_threshold"] == pytest.approx(run.screening["loo_median"] / 2, abs=2e-6)

    flags = rater_screening_flags(rater_ids=[crowd["straight"].pk, crowd["honest"][0].pk])
    assert set(flags) == {crowd["straight"].pk}
    assert (
        flags[crowd["straight"].pk]["pattern"] == "straight-lining" and flags[crowd["straight"].pk]["reasons"]
    )


def test_unconverged_dimensions_are_named_on_the_run(make_rater, no_gold, monkeypatch) -> None:
    from annotation import aggregation

    _crowd(make_rater, n_images=40, n_raters=10, k=5)
    real = aggregation.sureal_ap_all
    monkeypatch.setattr(aggregation, "sureal_ap_all", lambda *a, **kw: real(*a, **kw | {"max_iter": 1}))
    run = scoring_reaggregate(standard=Standard.objects.get(key="humanbeauty-v1"), workers=1)
    assert len(run.screening["unconverged"]) == 12
    assert AggregationRun.objects.get(pk=run.pk).screening["sureal"]["overall"] == {
        "n_iter": 1,
        "converged": False,
        "upsilon_floor": run.screening["sureal"]["overall"]["upsilon_floor"],
    }


def test_rater_quality_page_shows_patterns_and_reasons(make_rater, no_gold, admin_user, client) -> None:
    crowd = _crowd(make_rater, n_images=80, n_raters=12, k=7)
    scoring_reaggregate(standard=Standard.objects.get(key="humanbeauty-v1"), workers=1)
    client.force_login(admin_user)
    html = client.get("/scoring/raters/").content.decode()
    assert "<strong>straight-lining</strong>: low agreement: LOO SRCC" in html
    assert "<strong>random clicking</strong>: inconsistent: υ" in html
    assert 'data-testid="screening-summary"' in html and "2 of 12 flagged" in html
    assert "SUREAL converged on every dimension" in html
    assert crowd["straight"].username in html
    # Both charts get their data through the json_script block that static/frontend/charts.js draws from.
    assert 'id="chart-rater-scatter"' in html and "<svg" not in html
    charts = client.get("/scoring/raters/").context["charts"]
    points = {p["label"]: p for p in charts["rater_scatter"]}
    assert len(points) == 12 and points[crowd["random"].username]["flagged"] is True
    assert all(isinstance(p["x"], float) and p["y"] >= 0 for p in points.values())
    assert sum(p["flagged"] for p in points.values()) == 2
    assert '<script id="chart-data" type="application/json">' in html
