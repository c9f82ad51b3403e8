"""Every page of every role, at 1366×768, 1280×720 and 390×844, on the demo data: nothing carrying `hidden`
is displayed, no horizontal overflow, no Content-Security-Policy violation (and the header is strict), no
script error, axe-core finds no serious or critical violation, the scoring image and Submit are in view
(without page scroll on the desktop sizes), 403/404 render inside the site layout. Then the README tour is
walked row by row, and one image is rated with the keyboard only. Screenshots: test-artifacts/screenshots/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import SCREENSHOTS, login, until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "humanbeauty-demo"
VIEWPORTS = [(1366, 768), (1280, 720), (390, 844)]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
# Collected by the page itself from the first byte on (an init script is not subject to the page's CSP).
CSP_LISTENER = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => "
    "window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));"
)
PAGE_CHECKS = """() => ({
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  pageScroll: document.documentElement.scrollHeight - window.innerHeight,
  hiddenShown: [...document.querySelectorAll('[hidden]')]
    .filter((e) => getComputedStyle(e).display !== 'none')
    .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')),
  csp: window.__csp || [],
  nav: !!document.querySelector('header nav a'),
})"""
AXE_RUN = """async () => {
  const r = await axe.run(document, { resultTypes: ['violations'] });
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ' (' + v.nodes.length + '): ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '));
}"""


def _load_demo() -> None:
    """The demo of every app but the model (its training is slow and its pages render without it)."""
    from annotation.demo import demo_load_core
    from annotation.qualification.demo import demo_load as qualification_demo
    from annotation.scoring.demo import demo_load as scoring_demo
    from curation.demo import demo_load as curation_demo
    from tests.scoring.conftest import ensure_seeded_standard

    ensure_seeded_standard()
    demo_load_core()
    qualification_demo()
    scoring_demo()
    curation_demo()


def _pages() -> dict[str, list[str]]:
    from annotation.models import User
    from annotation.qualification.models import Protocol
    from annotation.scoring.models import Campaign
    from curation.models import Release, Source

    protocol = Protocol.objects.order_by("pk").first()
    volunteer = User.objects.get(username="volunteer9")
    release = Release.objects.order_by("pk").first()
    campaign = Campaign.objects.order_by("pk").first()
    source = Source.objects.order_by("pk").first()
    return {
        "volunteer1": ["/", "/qualification/", "/collect/", "/score/", "/review/", "/no-such-page/"],
        "volunteer9": ["/qualification/"],
        "volunteer10": ["/qualification/", "/qualification/exam/"],
        "admin": [
            "/",
            "/qualification/admin/",
            "/qualification/admin/gold/",
            f"/qualification/admin/{protocol.pk}/",
            f"/qualification/admin/volunteers/{volunteer.pk}/",
            "/campaigns/",
            f"/campaigns/{campaign.pk}/",
            "/review/",
            "/scoring/progress/",
            "/scoring/raters/",
            "/scoring/examples/",
            "/sources/",
            f"/sources/{source.key}/results/",
            "/releases/",
            f"/releases/{release.version}/",
            "/models/",
            "/models/score/",
            "/jobs/",
        ],
        "researcher": [
            "/",
            "/releases/",
            f"/releases/{release.version}/",
            "/models/",
            "/models/score/",
            "/jobs/",
        ],
    }


def _slug(path: str) -> str:
    slug = path.strip("/")
    for ch in "/?&=":
        slug = slug.replace(ch, "-")
    return slug or "dashboard"


def _in_view(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5 and box["x"] >= 0


def checked_page(browser, live_server, width: int, height: int) -> tuple[Any, Any, list[str]]:
    """A fresh context at ``width``×``height`` that records CSP violations (``window.__csp``) and the page's
    script errors (the returned list): what :func:`_check_page` reads. Close the context when done."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": height})
    context.set_default_timeout(20000)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def _check_page(
    page, user: str, path: str, width: int, height: int, errors: list[str], *, signed_in: bool = True
) -> list[str]:
    problems: list[str] = []
    errors.clear()
    response = page.goto(path)
    page.wait_for_load_state("networkidle")
    where = f"{user} {path} {width}x{height}"
    policy = response.headers.get("content-security-policy", "")
    if "script-src 'self'" not in policy or "unsafe-inline" in policy:
        problems.append(f"{where}: CSP header is not strict: {policy!r}")
    if path == "/score/":
        page.wait_for_selector("#subject[src]")
        until(page, "() => document.getElementById('subject').complete")
    state: dict[str, Any] = page.evaluate(PAGE_CHECKS)
    if state["overflow"] > 0:
        problems.append(f"{where}: {state['overflow']} px of horizontal overflow")
    if state["hiddenShown"]:
        problems.append(f"{where}: elements with `hidden` are displayed: {state['hiddenShown']}")
    if state["csp"]:
        problems.append(f"{where}: CSP violations {state['csp']}")
    if signed_in and not state["nav"]:
        problems.append(f"{where}: rendered outside the site layout (no navigation)")
    if errors:
        problems.append(f"{where}: script errors {errors}")
    if path == "/score/":
        if not _in_view(page, "[data-testid=submit]"):
            problems.append(f"{where}: Submit is not in view")
        if not _in_view(page, "[data-testid=stage]"):
            problems.append(f"{where}: the image is not in view")
        if width > 900 and state["pageScroll"] > 0:
            problems.append(f"{where}: the scoring page scrolls by {state['pageScroll']} px")
    is_error_page = path in ("/review/", "/no-such-page/") and user.startswith("volunteer")
    if is_error_page and page.locator("[data-testid=error-page]").count() != 1:
        problems.append(f"{where}: the error page is not the site's own")
    page.evaluate(AXE)
    problems += [f"{where}: axe {v}" for v in page.evaluate(AXE_RUN)]
    shots = SCREENSHOTS / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{user}-{_slug(path)}-{width}x{height}.png"), full_page=True)
    return problems


def test_every_page_of_every_role_at_three_sizes(browser, live_server) -> None:
    _load_demo()
    pages = _pages()
    problems: list[str] = []
    checked = 0
    for user, paths in pages.items():
        for width, height in VIEWPORTS:
            context, page, errors = checked_page(browser, live_server, width, height)
            login(page, user, DEMO_PASSWORD)
            for path in paths:
                problems += _check_page(page, user, path, width, height, errors)
                checked += 1
            context.close()
    assert checked == 3 * sum(len(p) for p in pages.values())
    assert not problems, "\n".join(problems)


def test_the_readme_tour_row_by_row(browser, live_server) -> None:
    """Each row of README's "A tour of the demo" table: sign in as that user, open that page, see that."""
    import re

    _load_demo()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    tour = readme.split("## A tour of the demo", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in tour.splitlines() if line.startswith("| ") and "`/" in line]
    assert len(rows) >= 9
    expectations = {
        "/qualification/admin/": "h1",
        "/qualification/": "[data-testid=status]",
        "/collect/": "form.upload-form",
        "/review/": "section.review-item",
        "/score/": "#subject[src]",
        "/scoring/progress/": "[data-testid=pool-table]",
        "/scoring/raters/": "[data-testid=rater-table]",
        "/scoring/examples/": "[data-testid=example-level]",
        "/sources/": "table",
        "/releases/": "[data-testid=releases]",
        "/models/": "h1",
        "/models/score/": "[data-testid=score-file]",
        "/campaigns/": "[data-testid=campaigns]",
        "/jobs/": "[data-testid=jobs-table]",
    }
    walked = 0
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        users = re.findall(r"`([a-z]+\d*)`", cells[1])  # "volunteer1 … volunteer8": the first and the last
        assert users, row
        for path in re.findall(r"`(/[^`]*)`", cells[2]):
            for user in users:
                context = browser.new_context(
                    base_url=live_server.url, viewport={"width": 1366, "height": 768}
                )
                context.set_default_timeout(20000)
                page = context.new_page()
                login(page, user, DEMO_PASSWORD)
                response = page.goto(path)
                assert response.status == 200, (user, path, response.status)
                try:
                    page.wait_for_selector(expectations[path])
                except Exception as exc:
                    raise AssertionError((user, path, page.inner_text("main")[:500])) from exc
                assert page.locator(".messages li.error").count() == 0, (user, path)
                if path == "/collect/":  # the tour's promise: volunteer1 can collect
                    assert page.locator("form.upload-form [name=campaign]").count() >= 1
                walked += 1
                context.close()
    assert walked >= 13


def test_keyboard_only_rating_of_one_image(browser, live_server) -> None:
    from annotation.models import User
    from annotation.scoring.models import Rating, Skip

    _load_demo()
    rater = User.objects.get(username="volunteer1")
    before = set(Rating.objects.filter(rater=rater).values_list("image_id", flat=True))
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 720})
    context.set_default_timeout(20000)
    page = context.new_page()
    login(page, "volunteer1", DEMO_PASSWORD)
    page.goto("/score/")
    page.wait_for_selector("#subject[src]")
    first = page.get_attribute("#subject", "data-image")

    page.keyboard.press("?")
    assert page.locator("[data-testid=keys-dialog]").is_visible()
    legend = page.locator("[data-testid=keys-dialog]").inner_text()
    for key in ("1", "Enter", "Skip", "Can't judge", "Report", "Undo", "full screen"):
        assert key.lower() in legend.lower(), key
    page.keyboard.press("Escape")
    assert not page.locator("[data-testid=keys-dialog]").is_visible()

    # 12 digits (each sets the chosen dimension's level and moves on), one arrow to fine-tune, undo, Enter.
    digits = "345234523455"
    for d in digits:
        page.keyboard.press(d)
    page.keyboard.press("ArrowRight")  # the last dimension set ("overall") 0.90 -> 0.91
    page.keyboard.press("ArrowRight")  # 0.92
    page.keyboard.press("u")  # undo -> 0.91
    assert page.locator("#rating [data-dim=overall] .scale").get_attribute("aria-valuenow") == "0.91"
    assert page.locator("[data-testid=submit]").is_enabled()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#subject:not([data-image='{first}'])")
    assert page.locator("[data-testid=session-count]").inner_text() != "0"
    rating = Rating.objects.get(rater=rater, image_id=first)
    assert first not in before
    assert rating.scores[-1] == 0.91 and rating.scores[0] == 0.5  # "3" = Fair's middle
    page.screenshot(path=str(SCREENSHOTS / "scoring-keyboard-next.png"))

    # Right after a submit, undo reopens that rating: change it within the window, by keyboard.
    page.keyboard.press("u")
    page.wait_for_selector("[data-testid=amend]:not([hidden])")
    page.keyboard.press("Home")  # the focused first scale -> 0.00
    page.locator("[data-testid=amend-save]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=amend]", state="hidden")
    rating.refresh_from_db()
    assert rating.scores[0] == 0.0
    page.keyboard.press("Escape")

    # Skip, can't judge and report, each by one key.
    second = page.get_attribute("#subject", "data-image")
    page.keyboard.press("s")
    page.wait_for_selector(f"#subject:not([data-image='{second}'])")
    third = page.get_attribute("#subject", "data-image")
    page.keyboard.press("c")
    page.wait_for_selector(f"#subject:not([data-image='{third}'])")
    fourth = page.get_attribute("#subject", "data-image")
    page.keyboard.press("r")
    page.wait_for_selector("[data-testid=report-dialog][open]")
    page.keyboard.press("Enter")  # the first reason is preselected
    page.wait_for_selector(f"#subject:not([data-image='{fourth}'])")
    reasons = dict(Skip.objects.filter(rater=rater).values_list("image_id", "reason"))
    assert reasons[second] == "skip" and reasons[third] == "cant_judge" and reasons[fourth] == "report"
    context.close()


def test_admin_console_campaigns_review_and_filter_results(browser, live_server) -> None:
    from annotation.scoring.models import Campaign, Submission

    _load_demo()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(20000)
    page = context.new_page()
    login(page, "admin", DEMO_PASSWORD)

    # Create a campaign and assign two volunteers; then close it and drop one.
    page.goto("/campaigns/")
    form = page.locator("[data-testid=campaign-form]")
    form.locator("input[name=name]").fill("Evening wear")
    form.locator("input[name=target_count]").fill("40")
    form.locator("textarea[name=principles]").fill("One main person\nThe whole outfit is visible")
    form.locator(".pick-filter").fill("volunteer2")
    form.locator("button[data-pick=all]").click()  # only the visible ones: volunteer2
    form.locator(".pick-filter").fill("")
    form.locator("label.check", has_text="volunteer3").locator("input").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".messages li.success")
    campaign = Campaign.objects.get(name="Evening wear")
    assert campaign.target_count == 40 and campaign.is_active
    assert sorted(campaign.volunteers.values_list("username", flat=True)) == ["volunteer2", "volunteer3"]
    form = page.locator("[data-testid=campaign-form]")
    form.locator("label.check", has_text="volunteer3").locator("input").uncheck()
    form.locator("input[name=is_active]").uncheck()
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".messages li.success")
    campaign.refresh_from_db()
    assert not campaign.is_active and list(campaign.volunteers.values_list("username", flat=True)) == [
        "volunteer2"
    ]

    # Review: keys j (first item), x (select it), then the bulk approve.
    pending = list(Submission.objects.filter(status=Submission.Status.PASSED).values_list("pk", flat=True))
    assert pending
    page.goto("/review/")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.locator("#bulk-count").inner_text() == "1"
    page.locator("[data-testid=bulk-approve]").click()
    page.wait_for_selector(".messages li.success")
    assert Submission.objects.get(pk=pending[0]).status == Submission.Status.APPROVED

    # Filter results: the rejected images, each with its reason.
    page.goto("/sources/")
    page.locator("[data-testid=rejected-link]").first.click()
    page.wait_for_selector("[data-testid=filter-results]")
    rejected = page.locator("[data-testid=filter-results] li[data-kept=no]")
    assert rejected.count() >= 1
    assert rejected.count() == page.locator("[data-testid=filter-results] [data-testid=reason]").count()
    assert "face" in rejected.first.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "admin-filter-results.png"), full_page=True)
    context.close()


def test_rater_quality_charts_are_drawn_with_titles_and_names(browser, live_server) -> None:
    """/scoring/raters/ draws both Chart.js charts: a scatter with both axis titles, flagged raters as a
    second dataset, the rater name in each point; a horizontal bar per rater with hidden-gold MAE."""
    from annotation.scoring.models import RaterQuality
    from annotation.selectors import default_standard

    _load_demo()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(20000)
    page = context.new_page()
    page.add_init_script(CSP_LISTENER)
    login(page, "admin", DEMO_PASSWORD)
    page.goto("/scoring/raters/")
    until(
        page,
        "() => !!(window.Chart && Chart.getChart('chart-rater-scatter') && Chart.getChart('chart-gold-mae'))",
    )
    scatter = page.evaluate(
        """() => { const c = Chart.getChart('chart-rater-scatter');
        return { type: c.config.type, x: c.options.scales.x.title.text, y: c.options.scales.y.title.text,
                 legend: c.data.datasets.map((d) => d.label), names: c.data.datasets.flatMap((d) => d.data.map((p) => p.label)) }; }"""
    )
    bars = page.evaluate(
        """() => { const c = Chart.getChart('chart-gold-mae');
        return { axis: c.options.indexAxis, labels: c.data.labels, values: c.data.datasets[0].data,
                 height: c.canvas.parentElement.getBoundingClientRect().height }; }"""
    )
    # The page shows the default standard's raters (the ArtiMuse raters are on ?standard=artimuse-v1).
    rows = list(RaterQuality.objects.filter(standard=default_standard()).select_related("rater"))
    assert (
        scatter["type"] == "scatter"
        and scatter["x"].startswith("Mean bias Δ")
        and scatter["y"] == "Mean inconsistency υ"
    )
    assert scatter["legend"] == ["Raters", "Flagged by screening"]
    assert sorted(scatter["names"]) == sorted(
        r.rater.username for r in rows if r.mean_delta is not None and r.mean_upsilon is not None
    )
    gold = {r.rater.username: r.gold_error for r in rows if r.gold_error is not None}
    assert bars["axis"] == "y" and sorted(bars["labels"]) == sorted(gold) and len(gold) >= 1
    assert bars["values"] == sorted(bars["values"], reverse=True)
    assert bars["height"] >= 28 * len(gold)  # room for every name
    assert page.evaluate("window.__csp") == []
    context.close()


def test_pages_touched_by_charts_and_undo_at_three_sizes(browser, live_server) -> None:
    """The every-page checks (CSP, hidden, overflow, axe) for /scoring/raters/ and /review/ with a decision
    that can be undone on it, at the three sizes."""
    from annotation.models import User
    from annotation.scoring.models import Submission
    from annotation.scoring.services.collection import submission_review

    _load_demo()
    sub = Submission.objects.filter(status=Submission.Status.PASSED).first()
    submission_review(submission=sub, reviewer=User.objects.get(username="admin"), approve=True)
    problems: list[str] = []
    for width, height in VIEWPORTS:
        context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": height})
        context.set_default_timeout(20000)
        page = context.new_page()
        page.add_init_script(CSP_LISTENER)
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        login(page, "admin", DEMO_PASSWORD)
        for path in ("/scoring/raters/", "/review/"):
            problems += _check_page(page, "admin", path, width, height, errors)
        assert page.locator("button[data-undo-latest]").get_attribute("value") == str(sub.pk)
        context.close()
    assert not problems, "\n".join(problems)

    # u undoes the latest decision (nobody has rated the image yet): the submission waits for review again.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(20000)
    page = context.new_page()
    login(page, "admin", DEMO_PASSWORD)
    page.goto("/review/")
    page.keyboard.press("u")
    page.wait_for_selector(".messages li.success")
    assert "decision undone" in page.locator(".messages li.success").inner_text()
    sub.refresh_from_db()
    assert sub.status == Submission.Status.PASSED
    assert page.locator(f"section.review-item[data-submission='{sub.pk}']").count() == 1
    context.close()


def test_an_artimuse_item_gets_its_attributes_and_a_comment_box_each(
    browser, live_server, monkeypatch
) -> None:
    """The scoring page follows the served item's standard: an ArtiMuse image reloads the page with its 8
    attributes and a comment box per attribute; it still fits 1280×720 with no page scroll (the every-page
    checks: CSP, hidden, overflow, axe), Submit waits for every comment, and the comments are stored."""
    from annotation.models import Image, Standard, User
    from annotation.qualification.services import monitoring
    from annotation.scoring.models import PoolItem, Rating
    from annotation.scoring.services.pool import pool_add
    from annotation.standards import artimuse

    _load_demo()
    monkeypatch.setattr(monitoring._random, "random", lambda: 0.999)  # no hidden gold draw: the pool item
    # Only the ArtiMuse item is open (the HumanBeauty pool is paused), on an image with real bytes.
    PoolItem.objects.exclude(standard__key=artimuse.KEY).update(active=False)
    image = Image.objects.filter(source="demo-nonhuman", pool_item__isnull=True).order_by("sha256").first()
    pool_add(image=image, standard=Standard.objects.get(key=artimuse.KEY), target=3)
    rater = User.objects.get(username="volunteer1")
    problems: list[str] = []
    for width, height in VIEWPORTS:
        context, page, errors = checked_page(browser, live_server, width, height)
        login(page, "volunteer1", DEMO_PASSWORD)
        page.goto("/score/")
        page.wait_for_selector("#subject[src]")
        if width == VIEWPORTS[0][0]:  # served first on a default-standard page: it reloaded for ArtiMuse
            assert page.url.endswith("/score/?standard=" + artimuse.KEY), page.url
        # (later, the page renders the standard of the lease the rater holds)
        problems += _check_page(page, "volunteer1", f"/score/?standard={artimuse.KEY}", width, height, errors)
        assert page.locator("#workspace").get_attribute("data-standard") == artimuse.KEY
        rows = page.locator("#rating .rating-row")
        assert rows.count() == 8
        assert [rows.nth(i).get_attribute("data-dim") for i in range(8)][-1] == "comprehensive"
        assert page.locator("#rating .rating-comment").count() == 8
        if width > 900:
            for selector in ("[data-testid=submit]", "#rating [data-dim=comprehensive] .rating-comment"):
                assert _in_view(page, selector), f"{selector} not in view at {width}x{height}"
        context.close()
    assert not problems, "\n".join(problems)

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 720})
    context.set_default_timeout(20000)
    page = context.new_page()
    login(page, "volunteer1", DEMO_PASSWORD)
    page.goto(f"/score/?standard={artimuse.KEY}")
    page.wait_for_selector("#subject[src]")
    for _ in range(8):
        page.keyboard.press("4")  # each attribute Good's middle, moving on
    assert page.locator("[data-testid=submit]").is_disabled()
    assert "8 comments left" in page.locator("[data-testid=todo]").inner_text()
    for key in artimuse.ATTRIBUTE_KEYS:
        page.locator(f"#rating [data-dim={key}] .rating-comment").fill(f"Why {key} is good.")
    assert page.locator("[data-testid=submit]").is_enabled()
    page.locator("[data-testid=submit]").click()
    page.wait_for_selector("[data-testid=empty]:not([hidden])")
    rating = Rating.objects.get(rater=rater, image=image)
    assert rating.scores == [0.7] * 8
    assert rating.comments == {k: f"Why {k} is good." for k in artimuse.ATTRIBUTE_KEYS}


def test_long_review_lists_page_on_the_server_and_decisions_keep_the_page(browser, live_server) -> None:
    """45 waiting and 40 decided submissions: the queue shows 20 a page, its pager reaches page 3, a
    rejection by keys on page 2 returns to page 2; the decided table sorts by its header; the every-page
    checks (overflow, hidden, CSP, axe) hold on a second page at the three sizes."""
    from annotation.scoring.models import Submission

    _load_demo()
    model = Submission.objects.exclude(image=None).order_by("pk").first()
    for i in range(85):
        model.pk = None
        model.status = Submission.Status.PASSED if i < 45 else Submission.Status.REJECTED
        model.review_reason = "" if i < 45 else "Watermark, collage or heavy filter"
        model.save()
    waiting = Submission.objects.filter(status=Submission.Status.PASSED).count()
    assert waiting >= 45
    problems: list[str] = []
    for width, height in VIEWPORTS:
        context, page, errors = checked_page(browser, live_server, width, height)
        login(page, "admin", DEMO_PASSWORD)
        for path in ("/review/?page=2&dpage=2", "/scoring/progress/?status=open&page=1"):
            problems += _check_page(page, "admin", path, width, height, errors)
        context.close()
    assert not problems, "\n".join(problems)

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(20000)
    page = context.new_page()
    login(page, "admin", DEMO_PASSWORD)
    page.goto("/review/")
    assert f"{waiting} waiting" in page.locator("[data-testid=queue-count]").inner_text()
    assert page.locator("section.review-item").count() == 20
    page.locator("[data-testid=pager] [data-testid=page-next]").first.click()
    page.wait_for_url("**/review/?page=2")
    second = [
        int(v)
        for v in page.locator("section.review-item").evaluate_all(
            "(els) => els.map((e) => e.dataset.submission)"
        )
    ]
    assert len(second) == 20
    page.keyboard.press("j")
    page.keyboard.press("r")
    focused = (
        "() => [document.activeElement.name, document.activeElement.closest('section')?.dataset.submission]"
    )
    assert page.evaluate(focused) == ["reason", str(second[0])]
    page.keyboard.type("Licence or consent unclear")
    assert page.evaluate(focused) == ["reason", str(second[0])]
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages li.success")
    assert page.url.endswith("/review/?page=2")
    rejected = Submission.objects.get(pk=second[0])
    assert (
        rejected.status == Submission.Status.REJECTED
        and rejected.review_reason == "Licence or consent unclear"
    )
    assert f"{waiting - 1} waiting" in page.locator("[data-testid=queue-count]").inner_text()
    # The decided table sorts by its "#" header (ascending on the second click), the queue's page kept.
    table = page.locator("[data-testid=decided-table]")
    table.locator("th a.sort", has_text="#").click()
    page.wait_for_url("**dsort=-id**")
    table.locator("th a.sort", has_text="#").click()
    page.wait_for_url("**dsort=id**")
    assert "page=2" in page.url
    ids = [
        int(v)
        for v in table.locator("tr[data-submission]").evaluate_all(
            "(els) => els.map((e) => e.dataset.submission)"
        )
    ]
    assert ids == sorted(ids) and len(ids) == 25
    page.screenshot(path=str(SCREENSHOTS / "admin-review-page-2.png"), full_page=True)
    # A filter's choice applies at once (no Show click), keeping the queue's page and the table's sort.
    page.locator("[data-testid=decided-filter] select[name=dstatus]").select_option("rejected")
    page.wait_for_url("**dstatus=rejected**")
    assert "page=2" in page.url and "dsort=id" in page.url
    statuses = table.locator("tr[data-submission]").evaluate_all("(els) => els.map((e) => e.dataset.status)")
    assert statuses and set(statuses) == {"rejected"}
    context.close()


def test_pages_outside_the_role_lists_at_three_sizes(browser, live_server) -> None:
    """The every-page checks for what the role lists above leave out: the sign-in and invitation pages
    (nobody signed in), an exam result, and the comparison of two releases."""
    from annotation.qualification.models import Attempt, Invitation
    from curation.models import Release

    _load_demo()
    token = Invitation.objects.filter(user=None).order_by("pk").values_list("token", flat=True).first()
    attempt = Attempt.objects.filter(
        enrollment__user__username="volunteer13", status=Attempt.Status.SUBMITTED
    ).first()
    release = Release.objects.order_by("pk").first()
    assert token and attempt and release
    pages = {
        None: ["/login/", f"/qualification/join/{token}/"],
        "volunteer13": [f"/qualification/result/{attempt.pk}/"],
        "admin": [f"/releases/{release.version}/compare/{release.version}/"],
    }
    problems: list[str] = []
    for user, paths in pages.items():
        for width, height in VIEWPORTS:
            context, page, errors = checked_page(browser, live_server, width, height)
            if user:
                login(page, user, DEMO_PASSWORD)
            for path in paths:
                problems += _check_page(
                    page, user or "anonymous", path, width, height, errors, signed_in=bool(user)
                )
            context.close()
    assert not problems, "\n".join(problems)


def test_jobs_page_updates_live_and_cancels_a_job(browser, live_server, make_user) -> None:
    """A researcher's jobs page: a job started after the page loaded appears with its progress without a
    reload, its progress moves, and Cancel stops it (the row then says cancelled, with no Cancel button)."""
    from annotation.models import Job
    from annotation.services.jobs import job_create

    researcher = make_user("researcher", username="jobs-researcher")
    job_create(kind="curation.filter", created_by=researcher, total=10)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(20000)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    login(page, researcher.username)
    page.goto("/jobs/")
    assert page.locator("[data-testid=jobs-table] tr[data-job]").count() == 1
    job = job_create(kind="thumbnails", created_by=researcher, total=40)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, done=5)
    row = page.locator(f"[data-testid=jobs-table] tr[data-job='{job.pk}']")
    row.wait_for()  # drawn by the live refresh, no reload
    assert "5/40" in row.inner_text()
    Job.objects.filter(pk=job.pk).update(done=17)
    page.wait_for_selector(f"tr[data-job='{job.pk}'] .progress-cell:text('17/40')")
    page.locator(f"tr[data-job='{job.pk}'] button[data-cancel]").click()
    page.wait_for_selector(f"tr[data-job='{job.pk}'][data-status=cancelled]")
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    assert page.locator(f"tr[data-job='{job.pk}'] button[data-cancel]").count() == 0
    assert "Updated" in page.locator("[data-testid=jobs-status]").inner_text()
    assert page.evaluate("window.__csp") == []
    page.screenshot(path=str(SCREENSHOTS / "jobs-live-cancelled.png"), full_page=True)
    context.close()
