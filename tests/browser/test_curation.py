"""A researcher lists releases, opens one, sees the card and the plots, and downloads a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.curation_app.conftest import SCUT_SCORES, write_scut
from tests.curation_app.factories import collected_aggregates, public_source

from .conftest import hold_job_polls, login, screenshot, until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_researcher_lists_opens_and_downloads_a_release(page, make_user, tmp_path) -> None:
    from curation.models import Release
    from curation.services.releases import release_build, release_create

    public_source(write_scut(tmp_path / "scut", SCUT_SCORES))
    collected_aggregates(3)
    release = release_build(release_id=release_create(version="1.0.0", enqueue=False).pk)
    assert release.status == Release.Status.PUBLISHED, release.error

    user = make_user("researcher", username="release-reader")
    login(page, user.username)
    assert "1.0.0" in page.inner_text("[data-panel=curation-release]")
    page.click("header nav >> text=Releases")
    page.wait_for_selector("[data-testid=releases]")
    row = page.inner_text("tr[data-version='1.0.0']")
    assert "published" in row and "50K: 3" in row
    screenshot(page, "curation-releases")
    page.click("tr[data-version='1.0.0'] a")
    page.wait_for_selector("[data-testid=card]")
    assert "Dataset" in page.inner_text("[data-testid=card]")
    # the stats plots load (authenticated by the session) and have pixels
    until(
        page,
        "() => Array.from(document.querySelectorAll('[data-testid=plots] img'))"
        ".every(i => i.complete && i.naturalWidth > 100)",
    )
    assert page.locator("[data-testid=plots] img").count() >= 3
    screenshot(page, "curation-release-detail")
    with page.expect_download() as info:
        page.click("a[data-file='scores.csv']", modifiers=["Alt"])
    download = info.value
    text = Path(download.path()).read_text()
    assert text.startswith("image_name,image_id,") and text.count("\n") == release.counts["total"] + 1
    page.click("header nav >> text=Releases")
    assert page.locator("#build-form").count() == 0  # researchers read; only admins publish


def test_admin_previews_the_diff_then_confirms_and_a_no_change_release_is_refused(
    page, make_user, tmp_path
) -> None:
    from curation.models import Release

    public_source(write_scut(tmp_path / "scut", SCUT_SCORES))
    collected_aggregates(3)
    admin = make_user("admin", username="release-admin")
    login(page, admin.username)
    page.click("header nav >> text=Releases")
    page.fill("#build-form input[name=version]", "1.0.0")
    page.select_option("#build-form select[name=level_rule]", "upper_inclusive")
    page.click("#build-form button[type=submit]")
    page.wait_for_selector("[data-testid=confirm]:not([hidden])")
    text = page.inner_text("#diff-text")
    assert "+9 added" in text and "initial release" in text and "50K: 3" in text
    assert Release.objects.count() == 0  # nothing happens before the confirmation
    screenshot(page, "curation-publish-confirm")
    # The build's job status polls are held at "running" until the in-flight state has been checked: the
    # Publish button disabled with a spinner, the progress bar and the job's message shown.
    held = hold_job_polls(page, message="writing files", done=3, total=10)
    page.click("#publish")
    # the build runs eagerly inside the request here (allow a slow, shared machine)
    until(page, "() => document.getElementById('build-progress').value === 3", attempts=3000)
    publish = page.locator("#publish")
    assert publish.is_disabled() and publish.get_attribute("aria-busy") == "true"
    assert publish.locator(".spinner").count() == 1
    assert page.locator("#build-progress").is_visible()
    assert page.locator("#build-progress").get_attribute("max") == "10"
    assert held["polls"] >= 1
    held["release"] = True
    # once the real status says succeeded the page reloads and lists the release
    page.wait_for_selector("tr[data-version='1.0.0']", timeout=300_000)
    release = Release.objects.get(version="1.0.0")
    assert release.level_rule == "upper_inclusive" and release.status == Release.Status.PUBLISHED
    # nothing changed since 1.0.0: the preview says so and publishing is refused unless forced
    page.fill("#build-form input[name=version]", "1.0.1")
    page.select_option("#build-form select[name=level_rule]", "upper_inclusive")
    page.click("#build-form button[type=submit]")
    page.wait_for_selector("#force-row:not([hidden])")
    assert "+0 added, −0 removed, ~0 relabelled" in page.inner_text("#diff-text")
    page.click("#publish")
    page.wait_for_selector("#build-msg.error", timeout=120_000)
    assert "Nothing changed since 1.0.0" in page.inner_text("#build-msg")
    assert not Release.objects.filter(version="1.0.1").exists()
