"""Token authentication (``humanbeauty.authentication.TokenAuthentication``): one prepared look-up, same answers as DRF."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_token_issued_by_the_api_authenticates(make_user, django_assert_max_num_queries) -> None:
    user = make_user("volunteer", username="tok-user")
    got = APIClient().post("/api/auth/token/", {"username": "tok-user", "password": "pw-test-12345"})
    assert got.status_code == 200, got.content
    key = got.json()["token"]
    client = _client(key)
    client.get("/api/me/")  # warm-up: per-process caches
    with django_assert_max_num_queries(1):  # the look-up is a single statement
        response = client.get("/api/me/")
    assert response.status_code == 200 and response.json()["username"] == user.username


@pytest.mark.parametrize("case", ["unknown", "deleted", "inactive"])
def test_bad_tokens_are_refused_with_401(make_user, case) -> None:
    user = make_user("volunteer")
    token = Token.objects.create(user=user)
    key = token.key
    if case == "unknown":
        key = "0" * 40
    elif case == "deleted":
        token.delete()
    else:
        user.is_active = False
        user.save(update_fields=["is_active"])
    response = _client(key).get("/api/me/")
    assert response.status_code == 401
    body = response.json()
    assert body["message"] in {"Invalid token.", "User inactive or deleted."}
    assert response.headers["WWW-Authenticate"].startswith("Token")
