"""Qualification in a real browser: an invited person follows the link, sets a password, trains with
feedback, sits a small exam (1 warm-up + 3 scored) and ends certified; an admin sees the funnel and the
volunteer's drill-down; the rating widget works with the keyboard and shows no thumb before a touch."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _seeded_standard(db) -> None:
    """Transactional tests flush the database; re-seed the standard if an earlier one removed it."""
    import importlib

    from django.apps import apps

    from annotation.models import Standard

    if not Standard.objects.filter(key="humanbeauty-v1").exists():
        importlib.import_module("annotation.migrations.0002_seed_humanbeauty_standard").seed(apps, None)


def _setup(admin):
    from annotation.models import Standard
    from annotation.qualification.services.protocols import (
        invitation_create_bulk,
        protocol_create,
        round_open,
    )
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(n=12)
    protocol = protocol_create(
        standard=Standard.objects.get(key="humanbeauty-v1"), created_by=admin, name="Browser cohort",
        n_iterations=1, n_training=1, n_scored=3, n_warmup=1, retake_delay=dt.timedelta(hours=1),
    )  # fmt: skip
    round_open(protocol=protocol, actor=admin)
    invitation = invitation_create_bulk(protocol=protocol, people=[{"email": "new@example.org"}])[0]
    return protocol, invitation


def _rate_like_gold(page, scope: str) -> None:
    """Click every slider at the expert mean of the image on screen (read from the DB by the test)."""
    from annotation.qualification.models import GoldItem

    src = page.locator(f"{scope} img.subject").get_attribute("src")
    sha = src.rstrip("/").split("/")[-2]
    gold = GoldItem.objects.get(image_id=sha).expert_mean
    for key, value in gold.items():
        track = page.locator(f"{scope} [data-dim={key}] .track")
        box = track.bounding_box()
        track.click(
            position={"x": max(0.5, min(box["width"] - 0.5, value * box["width"])), "y": box["height"] / 2}
        )


def test_invited_volunteer_becomes_certified(page, make_user) -> None:
    from annotation.qualification.models import Enrollment

    admin = make_user("admin", username="boss")
    protocol, invitation = _setup(admin)
    page.goto(f"/qualification/join/{invitation.token}/")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=password]", "a-long-pass-phrase-42")
    page.fill("input[name=password2]", "a-long-pass-phrase-42")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=start-training]")
    assert page.locator("[data-testid=state]").inner_text() == "Invited"
    page.click("[data-testid=start-training]")
    page.wait_for_selector("#training-work:not([hidden]) img.subject[src]")
    assert page.locator("[data-testid=training-submit]").is_disabled()  # nothing touched yet
    assert page.locator(".scale.touched").count() == 0  # no pre-placed thumb
    _rate_like_gold(page, "#training")
    page.click("[data-testid=training-submit]")
    page.wait_for_selector("[data-testid=feedback]:not([hidden])")
    feedback = page.locator("#feedback-rows").inner_text()
    assert "±" in feedback and "expert note" in feedback  # experts' scores and the rationale
    rows = page.locator("#feedback-rows .fb-row")
    assert rows.count() == 12
    # Drawn on the scale: the experts' band and mean, and the rater's own mark.
    first = rows.first
    assert first.locator(".fb-band").count() == 1 and first.locator(".fb-mean").count() == 1
    assert first.locator(".fb-you").count() == 1
    assert page.locator("[data-testid=training-submit]").is_hidden()  # gone once answered
    screenshot(page, "qualification-training-feedback")
    page.click("[data-testid=training-next]")
    page.wait_for_selector("#training-done:not([hidden])")
    page.click("#training-done [data-testid=go-exam]")
    page.wait_for_selector("#exam-work:not([hidden]) img.subject[src]")
    submit = page.locator("[data-testid=exam-submit]")
    for i in range(4):
        assert "Experts" not in page.content()
        page.wait_for_selector(f"#exam-progress:text('image {i + 1} of 4')")
        assert submit.is_disabled()  # not every image is answered yet
        _rate_like_gold(page, "[data-testid=exam]")
        page.click("[data-testid=exam-save]")
        if i == 2:
            # A reload keeps the stored answers: Previous shows them again, the counter says one is left.
            page.wait_for_selector("#exam-progress:text('image 4 of 4')")
            page.reload()
            page.wait_for_selector("#exam-progress:text('image 4 of 4')")
            assert "1 of 4 image(s) still to answer" in page.locator("[data-testid=exam-left]").inner_text()
            page.click("#exam-prev")
            page.wait_for_selector("#exam-progress:text('image 3 of 4')")
            assert page.locator("[data-testid=exam] .scale.touched").count() == 12
            page.click("[data-testid=exam-save]")  # unchanged answer saved again, back to the open image
    page.wait_for_selector("[data-testid=exam-submit]:enabled")
    screenshot(page, "qualification-exam")
    page.click("[data-testid=exam-submit]")
    page.wait_for_selector("[data-testid=result-verdict]")
    assert page.locator("[data-testid=result-verdict]").inner_text() == "Passed"
    assert page.locator("[data-testid=state]").inner_text() == "Certified"
    screenshot(page, "qualification-result")
    assert Enrollment.objects.get(user__username="newcomer").state == "certified"
    page.goto("/")
    assert "Certified" in page.locator("[data-panel=qualification]").inner_text()

    # The admin sees the funnel and the volunteer's history.
    page.context.clear_cookies()
    login(page, "boss")
    page.goto(f"/qualification/admin/{protocol.pk}/")
    funnel = page.locator("[data-testid=funnel]").inner_text()
    assert "Certified" in funnel
    screenshot(page, "qualification-admin-funnel")
    page.click('[data-testid=volunteers] a:text("newcomer")')
    page.wait_for_selector("[data-testid=transitions]")
    assert "exam → certified" in page.locator("[data-testid=transitions]").inner_text()


def test_rating_widget_keyboard_and_groups(page, make_user) -> None:
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(n=3)
    vol = make_user("volunteer", username="kbd")
    from annotation.models import Standard
    from annotation.qualification.services.exams import training_start
    from annotation.qualification.services.protocols import (
        enrollment_invite_user,
        protocol_create,
        round_open,
    )

    protocol = protocol_create(standard=Standard.objects.get(key="humanbeauty-v1"), name="kbd", n_training=1,
                               n_scored=1, n_warmup=0)  # fmt: skip
    round_open(protocol=protocol)
    training_start(enrollment=enrollment_invite_user(user=vol, protocol=protocol))
    login(page, "kbd")
    page.goto("/qualification/")
    page.wait_for_selector("#training-work:not([hidden]) img.subject[src]")
    legends = page.locator("#training-rating legend").all_inner_texts()
    assert legends[-1] == "Comprehensive Aesthetic Score" and legends[0] == "Facial Aesthetic Score"
    rows = page.locator("#training-rating .rating-group").first.locator(".rating-row")
    assert (
        rows.count() == 6 and rows.last.get_attribute("data-dim") == "facial_aesthetic"
    )  # parent last in group
    scale = page.locator("[data-dim=overall] .scale")
    assert scale.get_attribute("aria-valuetext") == "not rated yet"  # no value until the rater sets one
    scale.focus()
    page.keyboard.press("ArrowRight")
    assert scale.get_attribute("aria-valuenow") == "0.50"
    page.keyboard.press("Shift+ArrowRight")
    assert scale.get_attribute("aria-valuenow") == "0.55"
    page.keyboard.press("ArrowLeft")
    assert scale.get_attribute("aria-valuenow") == "0.54"
    page.keyboard.press("End")
    assert scale.get_attribute("aria-valuenow") == "1.00"
    page.keyboard.press("Home")
    assert scale.get_attribute("aria-valuenow") == "0.00"
    assert "11 dimension(s) still to rate." in page.locator("#training-untouched").inner_text()


def test_admin_manages_protocol_rounds_and_invitations(page, make_user) -> None:
    from annotation.qualification.models import Invitation, Protocol
    from tests.qualification.conftest import make_gold_bank

    make_gold_bank(n=4)
    make_user("admin", username="chief")
    login(page, "chief")
    page.goto("/qualification/admin/")
    form = page.locator("[data-testid=protocol-form]")
    form.locator("input[name=name]").fill("Spring cohort")
    form.locator("input[name=cohort]").fill("2026 spring")
    form.locator("input[name=n_scored]").fill("12")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=rounds]")
    protocol = Protocol.objects.get(name="Spring cohort")
    assert protocol.n_scored == 12 and protocol.cohort == "2026 spring"
    page.click("[data-testid=open-round]")
    page.wait_for_selector("text=Round 1 is open.")
    page.fill("textarea[name=csv]", "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    page.click("[data-testid=invite]")
    page.wait_for_selector("text=2 invitation(s) created.")
    assert Invitation.objects.filter(protocol=protocol).count() == 2
    page.click("text=Close round 1")
    page.wait_for_selector("text=Round 1 closed")
    assert "closed" in page.locator("[data-testid=rounds]").inner_text()
    page.goto("/qualification/admin/gold/")
    assert page.locator("[data-testid=coverage] tbody tr").count() == 12
    screenshot(page, "qualification-admin-gold")


def test_volunteer_in_retraining_trains_on_the_flagged_dimensions(page, make_user) -> None:
    """After a failed exam the page shows the training widget again, titled Retraining, with the flagged
    dimensions marked on the rating rows and in the feedback; finishing it leads to the retake."""
    from annotation.models import Standard
    from annotation.qualification.models import Enrollment, Retraining
    from annotation.qualification.services.protocols import (
        enrollment_invite_user,
        protocol_create,
        round_open,
    )
    from tests.qualification.conftest import finish_training, make_gold_bank, submit_exam

    make_gold_bank(n=20)
    vol = make_user("volunteer", username="retrainee")
    protocol = protocol_create(standard=Standard.objects.get(key="humanbeauty-v1"), name="retrain", n_training=1,
                               n_scored=4, n_warmup=0, n_retraining=2, max_attempts=2,
                               retake_delay=dt.timedelta(hours=1))  # fmt: skip
    round_open(protocol=protocol)
    enrollment = enrollment_invite_user(user=vol, protocol=protocol)
    finish_training(enrollment)
    failed = submit_exam(enrollment, good=False)
    assert Enrollment.objects.get(pk=enrollment.pk).state == "retraining"
    focus = Retraining.objects.get(attempt=failed).focus_dimensions
    login(page, "retrainee")
    page.goto("/qualification/")
    page.wait_for_selector("#training-work:not([hidden]) img.subject[src]")
    assert page.locator("#training h2").inner_text().startswith("Retraining")
    marked = [r.get_attribute("data-dim") for r in page.locator("#training-rating .rating-row.focus").all()]
    assert sorted(marked) == sorted(focus)
    _rate_like_gold(page, "#training")
    page.click("[data-testid=training-submit]")
    page.wait_for_selector("[data-testid=feedback]:not([hidden])")
    assert page.locator("#feedback-rows .fb-row[data-focus]").count() == len(focus)
    assert page.locator("#feedback-rows .fb-row").count() == 12
    screenshot(page, "qualification-retraining-feedback")
    page.click("[data-testid=training-next]")
    page.wait_for_selector("[data-testid=feedback]:not([hidden])", state="hidden")
    _rate_like_gold(page, "#training")
    page.click("[data-testid=training-submit]")
    page.wait_for_selector("[data-testid=feedback]:not([hidden])")
    page.click("[data-testid=training-next]")
    page.wait_for_selector("#training-done:not([hidden])")
    assert "Go to the retake" in page.locator("#training-done").inner_text()
    assert Retraining.objects.get(attempt=failed).completed_at is not None
