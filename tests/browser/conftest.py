"""Playwright harness: Debian's chromium (never `playwright install`), Django's live server on the
test database (PostgreSQL under `make test`). Screenshots land in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "pw-test-12345"


def _chromium() -> str | None:
    return os.environ.get("HB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    exe = _chromium()
    if exe is None:
        if os.environ.get("HB_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (HB_REQUIRE_BROWSER is set) but was not found")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=exe,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def login(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=who]")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def until(page, predicate: str, attempts: int = 3000) -> None:
    """Poll ``predicate`` (a JavaScript function, run by page.evaluate) every 100 ms until it is true:
    ``wait_for_function`` would eval a string, which the pages' Content-Security-Policy forbids."""
    for _ in range(attempts):
        if page.evaluate(predicate):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"never true: {predicate}")


def hold_job_polls(page, **running: object) -> dict:
    """Answer the page's job status polls (``/api/jobs/<id>/``) with ``{"status": "running", **running}``
    until ``held["release"]`` is set to True, then let them through to the server: a test checks a long
    job's in-flight state (disabled button, spinner, progress) however fast the real job ends. Returns the
    dict with ``polls`` (how many were held) and ``release``."""
    held = {"polls": 0, "release": False}

    def handle(route) -> None:
        if held["release"]:
            route.continue_()
            return
        held["polls"] += 1
        job_id = int(route.request.url.rstrip("/").rsplit("/", 1)[-1])
        route.fulfill(json={"id": job_id, "status": "running", **running})

    page.route("**/api/jobs/*/", handle)
    return held
