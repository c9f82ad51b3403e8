"""One serializer validates a protocol's pass rules (rule_serializers.PassRulesSerializer): directly, through
the protocol API (create and update) and through the admin pages' protocol and "what if" forms, with the
same field-level messages; nothing is written when a rule is refused."""

from __future__ import annotations

import pytest

from annotation.qualification.models import Protocol
from annotation.qualification.rule_serializers import PassRulesSerializer, pass_rule_errors

pytestmark = pytest.mark.django_db

P = "/api/qualification/protocols/"
BAD = [
    ("max_mae", 1.5, "Max MAE must be between 0 and 1 (got 1.5)"),
    ("max_mae", "lots", "Max MAE must be a number."),
    ("min_mean_srcc", -1.2, "Min mean SRCC must be between -1 and 1 (got -1.2)"),
    ("max_abs_bias", -0.01, "Max |bias| per dimension must be between 0 and 1 (got -0.01)"),
]


def test_the_serializer_takes_every_rule_and_names_each_bad_one() -> None:
    ok = PassRulesSerializer(data={"max_mae": "0.2", "min_mean_srcc": 0.5, "max_abs_bias": 0.1})
    assert ok.is_valid(), ok.errors
    assert ok.validated_data == {"max_mae": 0.2, "min_mean_srcc": 0.5, "max_abs_bias": 0.1}
    missing = PassRulesSerializer(data={"max_mae": 0.2})
    assert not missing.is_valid() and set(missing.errors) == {"min_mean_srcc", "max_abs_bias"}
    bad = PassRulesSerializer(data={"max_mae": 2, "min_mean_srcc": "x", "max_abs_bias": None})
    assert not bad.is_valid()
    assert bad.errors["max_mae"][0].startswith("Max MAE must be between 0 and 1 (got 2)")
    assert bad.errors["min_mean_srcc"] == ["Min mean SRCC must be a number."]
    assert bad.errors["max_abs_bias"] == ["Max |bias| per dimension is required."]
    # partial: only the rules present; a form's blank field keeps the current value
    assert pass_rule_errors({"max_mae": "0.3", "min_mean_srcc": ""}, blank_is_absent=True) == (
        {"max_mae": 0.3},
        {},
    )
    assert pass_rule_errors({"min_mean_srcc": ""})[1]["min_mean_srcc"] == ["Min mean SRCC must be a number."]


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_the_api_answers_field_level_messages(client_for, admin_user, field, value, message) -> None:
    admin = client_for(None, user=admin_user)
    r = admin.post(P, {"name": "Rules", field: value}, format="json")
    assert r.status_code == 400
    assert r.json()["extra"]["fields"][field][0].startswith(message)
    assert r.json()["message"].startswith(f"{field}: {message}")
    assert not Protocol.objects.filter(name="Rules").exists()


def test_the_api_creates_updates_and_describes_the_rules(client_for, admin_user) -> None:
    admin = client_for(None, user=admin_user)
    r = admin.post(P, {"name": "Rules", "max_mae": 0.2, "n_scored": 6}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["max_mae"], body["min_mean_srcc"], body["max_abs_bias"]) == (0.2, 0.6, 0.15)
    assert [(x["kind"], x["threshold"]) for x in body["pass_rules"]] == [
        ("max_mae", 0.2),
        ("min_mean_srcc", 0.6),
        ("max_abs_bias", 0.15),
    ]
    assert body["pass_rules"][0]["description"] == "mean absolute error against the experts ≤ 0.20"
    url = f"{P}{body['id']}/"
    assert admin.patch(url, {"min_mean_srcc": 0.7}, format="json").json()["min_mean_srcc"] == 0.7
    # a bad rule and a bad other field are both named; nothing changes
    r = admin.patch(url, {"max_abs_bias": 3, "n_scored": 0}, format="json")
    assert r.status_code == 400 and set(r.json()["extra"]["fields"]) == {"max_abs_bias", "n_scored"}
    protocol = Protocol.objects.get(pk=body["id"])
    assert (protocol.max_abs_bias, protocol.n_scored, protocol.min_mean_srcc) == (0.15, 6, 0.7)
    assert admin.patch(url, [1, 2], format="json").status_code == 400  # not an object: still the error body


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_the_admin_page_form_shows_the_same_messages(
    client, admin_user, protocol, field, value, message
) -> None:
    client.force_login(admin_user)
    before = Protocol.objects.values().get(pk=protocol.pk)
    page = f"/qualification/admin/{protocol.pk}/"
    r = client.post(page, {"action": "update", field: str(value), "n_scored": "7"}, follow=True)
    assert f"{field}: {message}" in r.content.decode()
    assert Protocol.objects.values().get(pk=protocol.pk) == before  # nothing saved, not even n_scored
    r = client.post("/qualification/admin/", {"name": "Form rules", field: str(value)}, follow=True)
    assert f"{field}: {message}" in r.content.decode()
    assert not Protocol.objects.filter(name="Form rules").exists()
    whatif = client.get(page, {"whatif": 1, "volunteers": 40, field: str(value)}).content.decode()
    assert f"{field}: {message}" in whatif and 'data-testid="whatif-funnel"' not in whatif


def test_the_admin_page_saves_valid_rules_and_describes_them(client, admin_user, protocol) -> None:
    client.force_login(admin_user)
    page = f"/qualification/admin/{protocol.pk}/"
    client.post(page, {"action": "update", "max_mae": "0.12", "min_mean_srcc": "", "max_abs_bias": "0.1"})
    protocol.refresh_from_db()
    assert (protocol.max_mae, protocol.min_mean_srcc, protocol.max_abs_bias) == (0.12, 0.6, 0.1)
    html = client.get(page).content.decode()
    assert "mean absolute error against the experts ≤ 0.12" in html
    assert 'name="max_abs_bias" value="0.1" min="0.0" max="1.0"' in html
