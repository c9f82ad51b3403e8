"""Pages (roles, rendering), the demo loader and the real-services simulation command."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from annotation.qualification.models import Enrollment, Retraining

from .conftest import finish_training, submit_exam

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_volunteer_pages(enrolled, gold_items) -> None:
    enrollment = enrolled()
    c = _client(enrollment.user)
    r = c.get("/qualification/")
    assert r.status_code == 200 and b"start-training" in r.content
    assert b'id="dims"' in r.content and b"rating.js" in r.content
    assert c.get("/qualification/admin/").status_code == 403
    finish_training(enrollment)
    attempt = submit_exam(enrollment, good=True)
    r = c.get(f"/qualification/result/{attempt.pk}/")
    assert r.status_code == 200 and b"Passed" in r.content
    assert b"Certified" in c.get("/").content  # dashboard panel


def test_volunteer_in_retraining_gets_the_training_widget_with_the_focus_dimensions(
    enrolled, gold_items
) -> None:
    enrollment = enrolled()
    c = _client(enrollment.user)
    finish_training(enrollment)
    assert (
        b"data-retraining" not in c.get("/qualification/").content
    )  # the round's training, not a retraining
    failed = submit_exam(enrollment, good=False)
    enrollment.refresh_from_db()
    assert enrollment.state == Enrollment.State.RETRAINING
    focus = Retraining.objects.get(attempt=failed).focus_dimensions
    assert focus
    r = c.get("/qualification/")
    html = r.content.decode()
    assert r.status_code == 200 and 'data-testid="training"' in html and 'data-retraining="1"' in html
    assert "Retraining" in html and "Go to the retake" in html
    names = dict(enrollment.protocol.standard.dimensions.values_list("key", "name"))
    listed = html.split('data-testid="retraining-focus">')[1].split("</ul>")[0]
    assert [names[k] in listed for k in focus] == [True] * len(focus)
    unflagged = [n for k, n in names.items() if k not in focus]
    assert not any(f"</span> {n}</li>" in listed for n in unflagged)
    assert r.context["status"]["retraining_focus"] == focus  # the JSON the widget marks rows from


def test_admin_pages_and_forms(admin_user, enrolled, gold_items, protocol) -> None:
    enrollment = enrolled()
    finish_training(enrollment)
    submit_exam(enrollment, good=False)
    c = _client(admin_user)
    assert c.get("/qualification/admin/").status_code == 200
    r = c.post("/qualification/admin/", {"name": "Form protocol", "n_scored": "6", "retake_delay_hours": "2"})
    assert r.status_code == 302
    r = c.get(f"/qualification/admin/{protocol.pk}/")
    assert r.status_code == 200 and enrollment.user.username.encode() in r.content
    c.post(
        f"/qualification/admin/{protocol.pk}/",
        {"action": "update", "max_mae": "0.2", "recertification_days": "90", "retake_delay_hours": "48"},
    )
    protocol.refresh_from_db()
    assert (protocol.max_mae, protocol.recertification_interval.days, protocol.retake_delay.days) == (
        0.2,
        90,
        2,
    )
    c.post(f"/qualification/admin/{protocol.pk}/", {"action": "update", "hidden_gold_share": "3"})
    protocol.refresh_from_db()
    assert protocol.hidden_gold_share == 0.05  # refused by validation, unchanged
    r = c.post(
        f"/qualification/admin/{protocol.pk}/", {"action": "invite", "csv": "email,name\nz@example.org,Z\n"}
    )
    assert r.status_code == 302 and protocol.invitations.count() == 1
    r = c.get(f"/qualification/admin/{protocol.pk}/?format=csv")
    assert r["Content-Type"].startswith("text/csv") and b"last_mae" in r.content
    r = c.get(f"/qualification/admin/volunteers/{enrollment.user_id}/")
    assert r.status_code == 200 and b"training" in r.content
    assert c.get("/qualification/admin/gold/").status_code == 200
    rnd = protocol.rounds.get(number=1)
    c.post(f"/qualification/admin/{protocol.pk}/", {"action": "close-round", "round_id": rnd.pk})
    enrollment.refresh_from_db()
    assert enrollment.state == "exited"
    assert b"Qualification" in c.get("/").content


def test_join_page_creates_account_and_signs_in(protocol) -> None:
    from annotation.qualification.services.protocols import invitation_create_bulk

    invitation = invitation_create_bulk(protocol=protocol, people=[{"email": "p@example.org"}])[0]
    c = Client()
    assert c.get(f"/qualification/join/{invitation.token}/").status_code == 200
    r = c.post(
        f"/qualification/join/{invitation.token}/",
        {"username": "pat", "password": "a-long-pass-phrase-42", "password2": "a-long-pass-phrase-42"},
    )
    assert r.status_code == 302 and r["Location"] == "/qualification/"
    assert Enrollment.objects.get(user__username="pat").state == "invited"
    assert c.get("/qualification/").status_code == 200
    assert Client().get("/qualification/join/not-a-token/").status_code == 404


@pytest.mark.slow
def test_demo_load_is_idempotent(settings) -> None:
    from annotation.demo import demo_load_core
    from annotation.qualification.contract import certified_raters
    from annotation.qualification.demo import demo_load

    demo_load_core()
    first = demo_load()
    second = demo_load()
    assert first["states"] == second["states"]
    assert second["gold_created"] == 0 and first["gold_items"] == second["gold_items"] >= 30
    s = first["states"]
    assert all(s[f"volunteer{i}"] == "certified" for i in range(1, 9))
    assert (s["volunteer9"], s["volunteer10"], s["volunteer11"], s["volunteer12"]) == (
        "training", "exam", "exited", "retraining",
    )  # fmt: skip
    assert all(s[f"volunteer{i}"] == "certified" for i in range(13, 19))  # certified by the exam itself
    assert certified_raters().count() == 14
    # The iterative protocol: the spring cohort passed all three rounds, each on a fresh exam form.
    by_exam = Enrollment.objects.filter(user__username__in=[f"volunteer{i}" for i in range(13, 19)])
    assert {(e.protocol.n_iterations, e.rounds_passed) for e in by_exam} == {(3, 3)}
    for e in by_exam:
        passed = list(
            e.attempts.filter(passed=True).order_by("round_number").values_list("round_number", flat=True)
        )
        assert passed == [1, 2, 3]
        forms = [set(a.items.values_list("gold_item_id", flat=True)) for a in e.attempts.all()]
        assert not forms[0] & forms[1] and not forms[1] & forms[2]
    exited = Enrollment.objects.get(user__username="volunteer11")
    assert exited.transitions.order_by("-id").first().reason == "round 1 closed before it was passed"
    # The current cohort is in round 2: round 1 closed, round 2 open.
    current = Enrollment.objects.get(user__username="volunteer9").protocol
    assert list(current.rounds.order_by("number").values_list("number", "status")) == [
        (1, "closed"),
        (2, "open"),
    ]
    assert {
        (e.user.username, e.round_number, e.rounds_passed)
        for e in Enrollment.objects.filter(protocol=current).select_related("user")
    } == {("volunteer9", 2, 1), ("volunteer10", 2, 1), ("volunteer12", 2, 1)}
    retraining = Retraining.objects.get(enrollment__user__username="volunteer12")
    assert retraining.focus_dimensions and retraining.attempt.round_number == 2


@pytest.mark.slow
def test_simulation_command_runs_real_services() -> None:
    from annotation.qualification.services.simulation import qualification_simulate

    result = qualification_simulate(
        n_volunteers=24, seed=0, protocol_params={"n_training": 2}, scoring_days=100, items_per_day=2
    )
    funnel = result["funnel"]
    assert result["invited"] == funnel["joined"] == 24
    rounds = result["rounds"]
    assert [r["entered"] for r in rounds] == [24, rounds[0]["passed"], rounds[1]["passed"]]
    assert result["certified"] + result["exited"] == 24 == funnel["certified_now"] + funnel["exited"]
    assert sum(result["exits_by_cause"].values()) == result["exited"]
    assert result["work"]["recertifications"] > 0  # the 90-day re-check ran inside the 100 days
    assert result["retraining"]["items"] > 0  # failed volunteers were retrained before retaking
    kinds = result["by_kind"]
    assert kinds.get("random_clicker", {"certified": 0})["certified"] == 0
    assert kinds.get("straight_liner", {"certified": 0})["certified"] == 0
    assert (
        Enrollment.objects.filter(protocol_id=result["protocol"], state="certified").count()
        == result["certified"]
    )
    retrained = Retraining.objects.filter(enrollment__protocol_id=result["protocol"])
    assert retrained.exists() and all(r.focus_dimensions for r in retrained)
    out = io.StringIO()
    call_command(
        "qualification_simulate", "--volunteers", "5", "--seed", "1", "--scoring-days", "5", stdout=out
    )
    text = out.getvalue()
    assert "invited 5" in text and "rolled back" in text and "round 3: entered" in text
    assert "retraining delivered:" in text and "certified " in text and ", exited " in text


def test_protocol_page_predicts_the_funnel_for_proposed_parameters(admin_user, protocol) -> None:
    """The "what if" form: a predicted funnel per round before a round opens; bad input gets a message."""
    c = _client(admin_user)
    base = f"/qualification/admin/{protocol.pk}/?whatif=1&volunteers=40"
    one = c.get(base + "&n_iterations=1&max_attempts=1")
    assert one.status_code == 200
    text = one.content.decode()
    assert (
        'data-testid="whatif-funnel"' in text and "Round 1 entered" in text and "Round 2 entered" not in text
    )
    three = c.get(base + "&n_iterations=3&max_attempts=2").content.decode()
    assert "Round 3 passed" in three and "retraining delivered" in three
    bad = c.get(base + "&max_mae=lots").content.decode()
    assert "max_mae: Max MAE must be a number." in bad and 'data-testid="whatif-funnel"' not in bad
    assert "out of range" in c.get(base + "&n_iterations=0").content.decode()
    assert protocol.rounds.count() == 1  # nothing was written
