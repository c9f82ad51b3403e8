"""Per-level example images on /score/ (chosen by the demo like an admin would on /scoring/examples/): the
strip shows beside the definitions without hover at 1366×768, 1280×720 and 390×844, the page still fits
(no page scroll on desktop, nothing `hidden` shown, no overflow, strict CSP, axe clean), a thumbnail opens
larger on click and on Enter, and keys inside that dialog never trigger the workspace's shortcuts."""

from __future__ import annotations

import pytest

from .conftest import SCREENSHOTS, login, until
from .test_pages import DEMO_PASSWORD, VIEWPORTS, _check_page, _load_demo, checked_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_example_strip_shows_opens_and_the_page_still_fits(browser, live_server) -> None:
    from annotation.scoring.models import LevelExample

    _load_demo()
    assert LevelExample.objects.count() >= 5  # the demo chose some
    problems: list[str] = []
    for width, height in VIEWPORTS:
        context, page, errors = checked_page(browser, live_server, width, height)
        login(page, "volunteer1", DEMO_PASSWORD)
        problems += _check_page(page, "volunteer1", "/score/", width, height, errors)
        strip = page.locator("[data-testid=level-examples]")
        assert strip.is_visible(), (width, height)
        assert strip.locator(".ex-cell").count() == 5
        first_dim = page.locator("#rating .rating-row").first.get_attribute("data-dim")
        assert strip.get_attribute("data-dim") == first_dim
        # the strip follows the chosen dimension: pick one with examples
        dim = (
            LevelExample.objects.filter(dimension__standard__key="humanbeauty-v1")
            .order_by("dimension__order")
            .values_list("dimension__key", flat=True)
            .first()
        )
        page.locator(f"#rating [data-dim={dim}] .scale").focus()
        until(page, f"() => document.getElementById('level-examples').dataset.dim === '{dim}'")
        thumbs = strip.locator("button.ex-thumb")
        assert thumbs.count() == LevelExample.objects.filter(dimension__key=dim).count() > 0
        box = thumbs.first.bounding_box()
        assert box and box["width"] >= 20 and box["y"] + box["height"] <= height, (width, height, box)
        image = page.get_attribute("#subject", "data-image")
        thumbs.first.click()
        dialog = page.locator("[data-testid=example-dialog]")
        assert dialog.is_visible()
        until(page, "() => document.getElementById('example-image').complete")
        assert page.evaluate("() => document.getElementById('example-image').naturalWidth") > 0
        page.keyboard.press("s")  # would skip the image outside the dialog
        page.screenshot(path=str(SCREENSHOTS / f"level-example-dialog-{width}x{height}.png"))
        page.keyboard.press("Escape")
        assert not dialog.is_visible()
        assert page.get_attribute("#subject", "data-image") == image
        thumbs.first.focus()
        page.keyboard.press("Enter")
        assert dialog.is_visible()
        page.keyboard.press("Escape")
        context.close()
    assert not problems, "\n".join(problems)


def test_the_admin_page_fits_and_adds_a_suggestion(browser, live_server) -> None:
    from annotation.scoring.models import LevelExample

    _load_demo()
    LevelExample.objects.all().delete()
    problems: list[str] = []
    for width, height in VIEWPORTS:
        context, page, errors = checked_page(browser, live_server, width, height)
        login(page, "admin", DEMO_PASSWORD)
        problems += _check_page(page, "admin", "/scoring/examples/?dimension=overall", width, height, errors)
        context.close()
    assert not problems, "\n".join(problems)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    page = context.new_page()
    login(page, "admin", DEMO_PASSWORD)
    page.goto("/scoring/examples/?dimension=overall")
    level = (
        page.locator("[data-testid=example-level]")
        .filter(has=page.locator("[data-testid=example-suggestions] button"))
        .first
    )
    level_key = level.get_attribute("data-level")
    level.locator("[data-testid=example-suggestions] button").first.click()
    page.wait_for_selector(".messages li.success")
    assert LevelExample.objects.filter(dimension__key="overall", level=level_key).count() == 1
    assert page.locator(f"[data-level={level_key}] [data-testid=example-chosen] img").count() == 1
    page.locator("[data-testid=example-add-form] input[name=image]").fill("0" * 64)
    page.locator("[data-testid=example-add-form] button").click()
    assert "image: No such image." in page.locator(".messages li.error").inner_text()
    context.close()
