"""The browser shell: each role logs in, sees its navigation, and a screenshot is taken."""

from __future__ import annotations

import pytest

from .conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPECTED_NAV = {
    "volunteer": {"must": ["Dashboard"], "never": ["Review", "Releases", "Jobs"]},
    "admin": {"must": ["Dashboard", "Jobs"], "never": ["Score"]},
    "researcher": {"must": ["Dashboard", "Jobs"], "never": ["Review", "Score"]},
}


@pytest.mark.parametrize("role", ["volunteer", "admin", "researcher"])
def test_each_role_logs_in_and_sees_its_navigation(page, make_user, role: str) -> None:
    user = make_user(role, username=f"shell-{role}")
    login(page, user.username)
    assert role.capitalize() in page.inner_text("[data-testid=who]")
    nav = page.inner_text("header nav")
    for label in EXPECTED_NAV[role]["must"]:
        assert label in nav
    for label in EXPECTED_NAV[role]["never"]:
        assert label not in nav.split("\n")
    shot = screenshot(page, f"dashboard-{role}")
    assert shot.stat().st_size > 5000
    page.click("text=Log out")
    page.wait_for_url("**/login/")


def test_wrong_password_shows_an_error(page, make_user) -> None:
    make_user("volunteer", username="shell-wrong")
    page.goto("/login/")
    page.fill("input[name=username]", "shell-wrong")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "Wrong username or password" in page.inner_text("[role=alert]")
