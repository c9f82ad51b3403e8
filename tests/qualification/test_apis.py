"""The qualification API end to end: volunteer flow, admin operations, gold import, invitations, CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.qualification.models import Enrollment, GoldItem, Invitation
from tests.conftest import jpeg_bytes

from .conftest import gold_scores

pytestmark = pytest.mark.django_db
P = "/api/qualification/"


def _volunteer_client(client_for, enrolled):
    enrollment = enrolled()
    return client_for(None, user=enrollment.user), enrollment


def test_volunteer_flow_over_the_api(client_for, enrolled, gold_items) -> None:
    client, enrollment = _volunteer_client(client_for, enrolled)
    status = client.get(P + "me/").json()
    assert status["state"] == "invited" and status["training_needed"] == 2
    assert client.post(P + "me/exam/start/").status_code == 409
    assert client.post(P + "me/training/start/").json()["state"] == "training"
    for _ in range(2):
        item = client.post(P + "me/training/next/").json()["item"]
        assert set(item) == {"id", "image", "thumb"}
        answer = enrollment.training_answers.get(pk=item["id"])
        feedback = client.post(
            P + f"me/training/{item['id']}/answer/", {"scores": gold_scores(answer.gold_item)}, format="json"
        ).json()
        assert len(feedback["dimensions"]) == 12 and feedback["dimensions"][0]["rationale"]
    assert client.post(P + "me/training/next/").json()["item"] is None
    exam = client.post(P + "me/exam/start/").json()
    assert len(exam["items"]) == 7 and exam["status"] == "open"
    for it in exam["items"][:-1]:
        gi = enrollment.attempts.get().items.get(position=it["position"]).gold_item
        r = client.post(
            P + f"me/exam/{exam['id']}/answer/",
            {"position": it["position"], "scores": gold_scores(gi)},
            format="json",
        )
        assert r.json() == {"stored": True, "position": it["position"]}
    r = client.post(P + f"me/exam/{exam['id']}/submit/")
    assert r.status_code == 400 and r.json()["extra"]["unanswered"] == [6]
    last = exam["items"][-1]
    gi = enrollment.attempts.get().items.get(position=last["position"]).gold_item
    client.post(
        P + f"me/exam/{exam['id']}/answer/", {"position": 6, "scores": gold_scores(gi)}, format="json"
    )
    result = client.post(P + f"me/exam/{exam['id']}/submit/").json()
    assert result["passed"] is True and result["state"] == "certified"
    assert result["result"]["mae"] == pytest.approx(0.0, abs=0.01)
    assert client.post(P + f"me/exam/{exam['id']}/submit/").status_code == 409
    status = client.get(P + "me/").json()
    assert status["state"] == "certified" and status["attempts"][0]["passed"] is True


def test_bad_scores_are_refused_with_the_field(client_for, enrolled, gold_items) -> None:
    client, _ = _volunteer_client(client_for, enrolled)
    client.post(P + "me/training/start/")
    item = client.post(P + "me/training/next/").json()["item"]
    r = client.post(P + f"me/training/{item['id']}/answer/", {"scores": {"overall": 2}}, format="json")
    assert r.status_code == 400 and set(r.json()) == {"message", "extra"}
    assert "scores.overall" in r.json()["extra"]["fields"]


def test_other_volunteers_attempt_is_not_found(client_for, enrolled, gold_items) -> None:
    from .conftest import finish_training

    owner, enrollment = _volunteer_client(client_for, enrolled)
    finish_training(enrollment)
    exam = owner.post(P + "me/exam/start/").json()
    other, _ = _volunteer_client(client_for, enrolled)
    assert other.get(P + f"me/exam/{exam['id']}/").status_code == 404
    assert other.post(P + f"me/exam/{exam['id']}/submit/").status_code == 404


def test_admin_protocol_rounds_invitations_join_funnel_export(client_for, admin_user, gold_items) -> None:
    admin = client_for(None, user=admin_user)
    r = admin.post(
        P + "protocols/", {"name": "Cohort A", "n_scored": 6, "n_warmup": 1, "n_training": 1}, format="json"
    )
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    assert r.json()["max_mae"] == 0.17 and r.json()["hidden_gold_share"] == 0.05
    assert (
        admin.patch(P + f"protocols/{pid}/", {"max_attempts": 3}, format="json").json()["max_attempts"] == 3
    )
    assert admin.patch(P + f"protocols/{pid}/", {"hidden_gold_share": 2}, format="json").status_code == 400
    round1 = admin.post(P + f"protocols/{pid}/rounds/").json()
    assert round1["number"] == 1
    assert admin.post(P + f"protocols/{pid}/rounds/").status_code == 409
    upload = SimpleUploadedFile(
        "people.csv", b"email,name\na@example.org,Ann\nb@example.org,Bob\na@example.org,Ann\n"
    )
    r = admin.post(P + f"protocols/{pid}/invitations/", {"file": upload}, format="multipart")
    assert r.status_code == 201 and r.json()["created"] == 2
    link = r.json()["invitations"][0]["link"]
    token = link.rstrip("/").rsplit("/", 1)[1]
    anon = client_for(None)
    assert anon.get(P + f"join/{token}/").json() == {
        "protocol": "Cohort A",
        "email": "a@example.org",
        "used": False,
    }
    assert (
        anon.post(P + f"join/{token}/", {"username": "ann", "password": "short"}, format="json").status_code
        == 400
    )
    r = anon.post(
        P + f"join/{token}/", {"username": "ann", "password": "a-long-pass-phrase-42"}, format="json"
    )
    assert r.status_code == 201
    assert (
        anon.post(P + f"join/{token}/", {"username": "ann2", "password": "a-long-pass-phrase-42"}).status_code
        == 409
    )
    assert anon.get(P + "join/nope/").status_code == 404
    enrollment = Enrollment.objects.get(user__username="ann")
    assert enrollment.state == "invited" and enrollment.protocol_id == pid
    assert Invitation.objects.get(token=token).accepted_at is not None
    funnel = admin.get(P + f"protocols/{pid}/funnel/").json()
    assert funnel["funnel"]["invited"] == 2 and funnel["funnel"]["joined"] == 1
    assert funnel["volunteers"][0]["username"] == "ann"
    r = admin.get(P + f"protocols/{pid}/export.csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert (
        r["Content-Type"].startswith("text/csv")
        and rows[0]["username"] == "ann"
        and rows[0]["state"] == "invited"
    )
    detail = admin.get(P + f"volunteers/{enrollment.user_id}/").json()
    assert [t["to"] for t in detail["transitions"]] == ["invited"]
    detail = admin.post(
        P + f"volunteers/{enrollment.user_id}/certify/", {"reason": "expert"}, format="json"
    ).json()
    assert detail["state"] == "certified" and detail["transitions"][-1]["actor"] == admin_user.username
    r = admin.post(P + f"rounds/{round1['id']}/close/")
    assert r.json() == {"round": 1, "exited": 0}


def test_gold_import_csv_and_json_and_coverage(client_for, admin_user) -> None:
    from annotation.standards.humanbeauty import DIMENSION_KEYS

    admin = client_for(None, user=admin_user)
    header = ["image", "n_experts"] + [
        f"{k}_{s}" for k in DIMENSION_KEYS for s in ("mean", "sd", "rationale")
    ]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for i in range(2):
        writer.writerow([f"g{i}.jpg", 5] + [x for _ in DIMENSION_KEYS for x in (0.3 + 0.4 * i, 0.1, "why")])
    files = [
        SimpleUploadedFile(f"g{i}.jpg", jpeg_bytes(seed=700 + i), content_type="image/jpeg") for i in range(2)
    ]
    r = admin.post(
        P + "gold/import/",
        {"file": SimpleUploadedFile("bank.csv", buf.getvalue().encode()), "images": files},
        format="multipart",
    )
    assert r.status_code == 201, r.content
    assert r.json() == {"created": 2, "updated": 0, "items": 2}
    assert GoldItem.objects.get(image__source_ref="g1.jpg").image.provenance == "gold"
    sha = GoldItem.objects.get(image__source_ref="g0.jpg").image_id
    body = json.dumps([{"image_sha256": sha, "n_experts": 7, "mean": dict.fromkeys(DIMENSION_KEYS, 0.9)}])
    r = admin.post(
        P + "gold/import/", {"file": SimpleUploadedFile("bank.json", body.encode())}, format="multipart"
    )
    assert r.json() == {"created": 0, "updated": 1, "items": 1}
    bad = json.dumps([{"image_sha256": sha, "mean": {"overall": 0.5}}])
    r = admin.post(
        P + "gold/import/", {"file": SimpleUploadedFile("bad.json", bad.encode())}, format="multipart"
    )
    assert r.status_code == 400 and r.json()["message"].startswith("Gold row 1:")
    gold = admin.get(P + "gold/").json()
    assert gold["coverage"]["n_items"] == 2 and len(gold["coverage"]["dimensions"]) == 12
    assert gold["coverage"]["dimensions"][0]["key"] == "facial_brightness"


def test_gold_import_command(tmp_path, gold_items) -> None:
    from django.core.management import call_command

    from annotation.standards.humanbeauty import DIMENSION_KEYS

    (tmp_path / "x.jpg").write_bytes(jpeg_bytes(seed=901))
    rows = [{"image": "x.jpg", "mean": dict.fromkeys(DIMENSION_KEYS, 0.4), "rationale": {"overall": "ok"}}]
    (tmp_path / "bank.json").write_text(json.dumps(rows))
    out = io.StringIO()
    call_command(
        "qualification_gold_import", str(tmp_path / "bank.json"), "--images", str(tmp_path), stdout=out
    )
    assert "dry run" in out.getvalue() and not GoldItem.objects.filter(image__source_ref="x.jpg").exists()
    call_command("qualification_gold_import", str(tmp_path / "bank.json"), "--images", str(tmp_path), "--apply",
                 stdout=out)  # fmt: skip
    assert GoldItem.objects.get(image__source_ref="x.jpg").rationale == {"overall": "ok"}
