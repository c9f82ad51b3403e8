"""A researcher lists releases, opens one, sees the card and the plots, and downloads a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.curation_app.conftest import SCUT_SCORES, write_scut
from tests.curation_app.factories import collected_aggregates, public_source

from .conftest import login, screenshot

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
    page.wait_for_function(
        "Array.from(document.querySelectorAll('[data-testid=plots] img')).every(i => i.complete && i.naturalWidth > 100)"
    )
    assert page.locator("[data-testid=plots] img").count() >= 3
    screenshot(page, "curation-release-detail")
    with page.expect_download() as info:
        page.click("a[data-file='scores.csv']", modifiers=["Alt"])
    download = info.value
    text = Path(download.path()).read_text()
    assert text.startswith("image_name,mos,") and text.count("\n") == release.counts["total"] + 1
