"""Collection and scoring end to end in a real browser: a volunteer uploads (one image passes the checks, a
non-human image and a collage fail), an admin approves with the face boxes drawn, three certified raters
score the approved image to completion (k=3) and its MOS appears on the progress page."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, screenshot
from tests.scoring.conftest import ensure_seeded_standard
from tests.scoring.test_collection import astronaut, collage, nonhuman

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _logout(page) -> None:
    page.context.clear_cookies()


def _upload(page, path) -> None:
    page.goto("/collect/")
    form = page.locator("form.upload-form").first
    for box in form.locator("input.principle").all():
        box.check()
    form.locator("input[type=file]").set_input_files(str(path))
    form.locator("input[name=source_url]").fill("https://example.org/photo.jpg")
    form.locator("input[name=attestation]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".messages")


def test_collect_review_score_to_completion(page, make_user, tmp_path) -> None:
    from annotation.qualification.contract import volunteer_certify_by_admin
    from annotation.scoring.models import PoolItem, Rating, Submission
    from annotation.scoring.services.collection import campaign_create

    ensure_seeded_standard()
    from annotation.models import Standard

    Standard.objects.filter(key="humanbeauty-v1").update(min_ratings=3)  # a k = 3 campaign (minimum is 9)
    admin = make_user("admin", username="boss")
    collector = make_user("volunteer", username="collector")
    raters = [make_user("volunteer", username=f"rater{i}") for i in range(3)]
    for user in [collector, *raters]:
        volunteer_certify_by_admin(user=user, admin=admin, reason="browser test")
    campaign_create(
        created_by=admin,
        volunteers=[collector],
        name="Full-body portraits",
        principles="One main person\nThe body is visible",
        target_count=10,
        ratings_target=3,
        ratings_step=3,
        ratings_cap=3,
    )
    files = {}
    for name, payload in (("person", astronaut()), ("coffee", nonhuman()), ("collage", collage())):
        files[name] = tmp_path / f"{name}.jpg"
        files[name].write_bytes(payload)

    login(page, "collector")
    for name in ("person", "coffee", "collage"):
        _upload(page, files[name])
    rows = page.locator("[data-testid=my-submissions] tr[data-submission]")
    assert rows.count() == 3
    # The page lists exactly the collector's submissions, each with its stored status.
    listed = {int(r.get_attribute("data-submission")): r.get_attribute("data-status") for r in rows.all()}
    assert listed == dict(Submission.objects.filter(submitter=collector).values_list("pk", "status"))
    table = page.locator("[data-testid=my-submissions]")
    assert table.locator("tr[data-status=passed]").count() == 1
    assert table.locator("tr[data-status=failed]").count() == 2
    assert table.locator("li.bad[data-check=face_present]").count() == 1  # the coffee cup
    assert (
        table.locator("li.bad[data-check=single_dominant_subject]").count() == 2
    )  # coffee (no face) + collage
    screenshot(page, "scoring-collect")
    _logout(page)

    login(page, "boss")
    page.goto("/review/")
    item = page.locator("section.review-item").first
    assert item.locator("[data-testid=face-boxes] rect").count() == 1
    screenshot(page, "scoring-review")
    item.locator("button[value=approve]").click()
    page.wait_for_selector(".messages")
    assert PoolItem.objects.count() == 1
    _logout(page)

    for i, rater in enumerate(raters):
        login(page, rater.username)
        page.goto("/score/")
        page.wait_for_selector("#subject[src]")
        submit = page.locator("[data-testid=submit]")
        scales = page.locator("#rating .scale")
        assert scales.count() == 12
        assert page.locator("#rating .scale.touched").count() == 0  # no pre-placed thumb
        for j in range(12):
            scale = scales.nth(j)
            scale.focus()
            scale.press("ArrowRight")  # first press places the thumb at 0.50
            if (i + j) % 2:
                scale.press("PageUp")
            if j < 11:
                assert submit.is_disabled()
        assert submit.is_enabled()
        if i == 0:
            screenshot(page, "scoring-workspace")
        submit.click()
        page.wait_for_selector("[data-testid=empty]:not([hidden])")
        assert page.locator("[data-testid=session-count]").inner_text() == "1"
        _logout(page)

    assert Rating.objects.count() == 3
    item = PoolItem.objects.get()
    assert item.ratings_done == 3 and item.completed_at is not None
    login(page, "boss")
    page.goto("/scoring/progress/")
    mos = page.locator("[data-testid=pool-table] [data-testid=mos]").first.inner_text()
    assert mos.startswith("0.5"), mos
    screenshot(page, "scoring-progress")
    page.goto("/scoring/raters/")
    page.locator("button[type=submit]", has_text="Re-aggregate").click()
    page.wait_for_selector("[data-testid=rater-table]")
    assert page.locator("[data-testid=rater-table] tbody tr").count() == 3
    screenshot(page, "scoring-rater-quality")
