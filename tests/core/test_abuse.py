"""Abuse limits: password guessing throttled per account and per client on the token API and the sign-in
page; oversized bodies refused from Content-Length; the proxy headers trusted only behind the proxy;
every /api/ error (unknown route included) in the ``{message, extra}`` shape."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "pw-test-12345"


@pytest.fixture
def limits(settings):
    settings.HB_LOGIN_MAX_FAILURES_PER_ACCOUNT = 5
    settings.HB_LOGIN_MAX_FAILURES_PER_CLIENT = 8
    settings.HB_LOGIN_WINDOW_SECONDS = 900
    return settings


def _token(client: APIClient, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def test_token_api_refuses_the_right_password_after_too_many_wrong_ones(limits, make_user) -> None:
    make_user("researcher", username="victim")
    client = APIClient()
    for attempt in range(5):
        response = _token(client, "victim", f"guess-{attempt}")
        assert response.status_code == 400, response.content
    refused = _token(client, "victim", PASSWORD)
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) == {"message", "extra"}
    assert "Too many failed sign-ins for this account" in body["message"]
    assert body["extra"]["scope"] == "account" and body["extra"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 900
    # Another account from another client is unaffected.
    make_user("researcher", username="bystander")
    assert _token(client, "bystander", PASSWORD, ip="10.0.0.2").status_code == 200


def test_the_account_limit_applies_from_every_client(limits, make_user) -> None:
    make_user("researcher", username="victim")
    client = APIClient()
    for attempt in range(5):
        _token(client, "victim", f"guess-{attempt}", ip=f"10.1.0.{attempt}")
    assert _token(client, "victim", PASSWORD, ip="10.9.9.9").status_code == 429


def test_one_client_spraying_many_accounts_is_refused(limits, make_user) -> None:
    make_user("researcher", username="target")
    client = APIClient()
    for attempt in range(8):
        assert _token(client, f"user{attempt}", "guess").status_code == 400
    refused = _token(client, "target", PASSWORD)
    assert refused.status_code == 429 and refused.json()["extra"]["scope"] == "client"
    assert _token(client, "target", PASSWORD, ip="10.0.0.77").status_code == 200


def test_a_correct_sign_in_clears_the_account_count(limits, make_user) -> None:
    make_user("researcher", username="forgetful")
    client = APIClient()
    for _ in range(2):
        for attempt in range(4):
            assert _token(client, "forgetful", f"typo-{attempt}", ip=f"10.2.0.{attempt}").status_code == 400
        assert _token(client, "forgetful", PASSWORD, ip="10.2.1.1").status_code == 200


def test_login_page_is_throttled_with_a_proper_page(limits, make_user) -> None:
    make_user("volunteer", username="walker")
    browser = Client()
    for attempt in range(5):
        page = browser.post("/login/", {"username": "walker", "password": f"guess-{attempt}"})
        assert page.status_code == 200 and b"Wrong username or password" in page.content
    page = browser.post("/login/", {"username": "walker", "password": PASSWORD})
    assert page.status_code == 429
    assert page["Content-Type"].startswith("text/html")
    assert b"Too many failed sign-ins for this account" in page.content
    assert b'name="password"' in page.content  # the form is still there
    assert "_auth_user_id" not in browser.session


def test_token_api_and_login_page_share_the_counts(limits, make_user) -> None:
    make_user("volunteer", username="shared")
    for attempt in range(5):
        Client().post("/login/", {"username": "shared", "password": f"guess-{attempt}"})
    assert _token(APIClient(), "shared", PASSWORD, ip="10.3.0.1").status_code == 429


def test_client_address_comes_from_the_proxy_only_when_behind_it(limits, make_user) -> None:
    """A client cannot escape the per-client limit with a forged X-Forwarded-For header."""
    client = APIClient()
    for attempt in range(8):
        client.post(
            "/api/auth/token/",
            {"username": f"spray{attempt}", "password": "x"},
            format="json",
            REMOTE_ADDR="10.4.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}",
        )
    make_user("researcher", username="next")
    assert _token(client, "next", PASSWORD, ip="10.4.0.1").status_code == 429
    # Behind the proxy, the address the proxy appended (the last hop) is the client.
    limits.HB_BEHIND_PROXY = True
    response = client.post(
        "/api/auth/token/",
        {"username": "next", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="172.18.0.5",
        HTTP_X_FORWARDED_FOR="10.4.0.1, 198.51.100.7",
    )
    assert response.status_code == 200


def test_anonymous_oversized_body_is_refused_before_parsing(settings) -> None:
    response = APIClient().generic(
        "POST",
        "/api/auth/token/",
        data=b"x" * 10,
        content_type="multipart/form-data; boundary=zzz",
        CONTENT_LENGTH=str(250 * 1024 * 1024),
    )
    assert response.status_code == 413
    body = response.json()
    assert set(body) == {"message", "extra"} and body["extra"]["code"] == "too_large"
    page = Client().post("/login/", data=b"", content_type="text/plain", CONTENT_LENGTH=str(10**6))
    assert page.status_code == 413


def test_signed_in_clients_get_the_larger_limit(client_for, settings) -> None:
    admin = client_for("admin")
    within = admin.generic(
        "POST",
        "/api/images/",
        data=b"",
        content_type="application/json",
        CONTENT_LENGTH=str(10 * 1024 * 1024),
    )
    assert within.status_code != 413
    over = admin.generic(
        "POST",
        "/api/images/",
        data=b"",
        content_type="application/json",
        CONTENT_LENGTH=str(settings.HB_REQUEST_MAX_BYTES + 1),
    )
    assert over.status_code == 413


def test_proxy_ssl_header_is_not_trusted_by_default() -> None:
    from django.conf import settings

    assert settings.HB_BEHIND_PROXY is False
    assert settings.SECURE_PROXY_SSL_HEADER is None


@pytest.mark.parametrize(
    "path", ["/api/jobs/null/", "/api/no-such-thing/", "/api/images/abc/nope/", "/api/scoring/x/y/z/"]
)
def test_unknown_api_paths_are_json_404(client_for, path) -> None:
    response = client_for("admin").get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"message", "extra"}


def test_pages_outside_the_api_keep_html_404(client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_missing_trailing_slash_is_a_json_404_with_a_hint(client_for) -> None:
    response = client_for("admin").post("/api/jobs/1/cancel", {}, format="json")
    assert response.status_code == 404
    assert response.json()["extra"] == {"did_you_mean": "/api/jobs/1/cancel/"}
    unknown = client_for("admin").get("/api/qualification/protocols/null,null/export.csv")
    assert unknown.status_code == 404 and unknown.json()["extra"] == {}


def test_browser_403_and_404_are_pages_of_the_site(make_user) -> None:
    browser = Client()
    browser.force_login(make_user("volunteer"))
    forbidden = browser.get("/jobs/")  # admins and researchers only
    assert forbidden.status_code == 403
    assert (
        b"You cannot open this page" in forbidden.content and b'data-testid="error-page"' in forbidden.content
    )
    missing = browser.get("/no-such-page/")
    assert (
        missing.status_code == 404 and b"There is nothing at <code>/no-such-page/</code>" in missing.content
    )
