"""Long console lists are paginated on the server (``?page=``), sortable and filterable, and every link keeps
the other parameters: an admin reaches every submission, review decision, pool image and job however many
there are; a volunteer every one of their submissions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Job
from annotation.scoring.models import Submission
from annotation.scoring.services.collection import campaign_create
from annotation.services.jobs import job_create
from tests.scoring.conftest import fake_images, make_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaigns(admin_user, rater):
    return [
        campaign_create(created_by=admin_user, volunteers=[rater], name=name, principles="x", target_count=5)
        for name in ("Evening", "Beach")
    ]


def _submissions(campaign, n: int, status: str, prefix: str) -> list[Submission]:
    subs = []
    for image in fake_images(n, prefix=prefix):
        sub = Submission(
            campaign=campaign,
            submitter=campaign.volunteers.first(),
            upload_sha256=image.sha256,
            image=image,
            source_url=f"https://example.org/{prefix}.jpg",
            attestation=True,
            status=status,
        )
        sub.upload.name = image.file.name
        subs.append(sub)
    return Submission.objects.bulk_create(subs)


def _ids(html: str, attr: str, scope: str = "") -> list[int]:
    if scope:
        html = html.split(scope, 1)[1]
    return [int(v) for v in re.findall(rf'{attr}="(\d+)"', html)]


def _queue(html: str) -> list[int]:
    return [int(v) for v in re.findall(r'<section class="card review-item" data-submission="(\d+)"', html)]


def test_every_waiting_submission_is_reachable_page_by_page(client, admin_user, campaigns) -> None:
    evening, beach = campaigns
    waiting = _submissions(evening, 30, Submission.Status.PASSED, "e") + _submissions(
        beach, 15, Submission.Status.PASSED, "b"
    )
    client.force_login(admin_user)
    seen: list[int] = []
    url = "/review/"
    while url:
        html = client.get(url).content.decode()
        page = _queue(html)
        assert 0 < len(page) <= 20
        seen += page
        nxt = re.search(r'href="([^"]+)" class="page-link" rel="next"', html)
        url = "/review/" + nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert sorted(seen) == sorted(s.pk for s in waiting) and len(seen) == len(set(seen)) == 45
    assert "45 waiting" in client.get("/review/").content.decode()

    # A campaign filter, oldest first: page 2 keeps both in its links and shows the rest of that campaign.
    html = client.get(f"/review/?campaign={beach.pk}&sort=created").content.decode()
    assert _queue(html) == sorted(s.pk for s in waiting if s.campaign_id == beach.pk)
    html = client.get(f"/review/?campaign={evening.pk}&sort=created&page=2").content.decode()
    assert _queue(html) == sorted(s.pk for s in waiting if s.campaign_id == evening.pk)[20:]
    assert f"?campaign={evening.pk}&amp;sort=created&amp;page=1" in html
    assert "page 2 of 2" in html
    # A page past the end shows the last page, an unknown sort the default order (newest first).
    assert _queue(client.get("/review/?page=99").content.decode()) == sorted(s.pk for s in waiting)[:5][::-1]
    assert _queue(client.get("/review/?sort=nonsense").content.decode())[0] == max(s.pk for s in waiting)


def test_a_decision_posted_from_page_two_returns_to_page_two(client, admin_user, campaigns) -> None:
    waiting = _submissions(campaigns[0], 25, Submission.Status.PASSED, "p")
    client.force_login(admin_user)
    target = sorted(s.pk for s in waiting)[0]  # newest first: the oldest is on page 2
    resp = client.post("/review/?page=2&sort=-created", {"submission": [target], "decision": "approve"})
    assert resp.status_code == 302 and resp["Location"] == "/review/?page=2&sort=-created"
    assert Submission.objects.get(pk=target).status == Submission.Status.APPROVED


def test_decided_submissions_paginate_and_filter_apart_from_the_queue(client, admin_user, campaigns) -> None:
    campaign = campaigns[0]
    rejected = _submissions(campaign, 30, Submission.Status.REJECTED, "r")
    failed = _submissions(campaign, 10, Submission.Status.FAILED, "f")
    waiting = _submissions(campaign, 3, Submission.Status.PASSED, "w")
    now = timezone.now()
    for i, sub in enumerate(rejected):  # decided over the last hours, the last one most recently
        Submission.objects.filter(pk=sub.pk).update(reviewed_at=now - timedelta(hours=3, minutes=-i))
    client.force_login(admin_user)
    scope = 'data-testid="decided-table"'
    html = client.get("/review/").content.decode()
    first = _ids(html, "data-submission", scope)
    assert first == [s.pk for s in reversed(rejected)][:25]  # latest decision first; failed ones come last
    assert len(_queue(html)) == 3  # the queue on the same page is untouched
    html = client.get("/review/?dpage=2").content.decode()
    rest = _ids(html, "data-submission", scope)
    assert rest == [s.pk for s in reversed(rejected)][25:] + sorted((s.pk for s in failed), reverse=True)
    assert len(_queue(html)) == 3
    html = client.get("/review/?dstatus=failed&page=1").content.decode()
    assert sorted(_ids(html, "data-submission", scope)) == sorted(s.pk for s in failed)
    # The status filter's form keeps the queue's own parameters as hidden fields.
    assert '<input type="hidden" name="page" value="1">' in html
    # ... and its own sort (a new filter keeps the order, starts at page 1).
    html = client.get("/review/?dsort=id&dpage=2").content.decode()
    form = html.split('data-testid="decided-filter"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="dsort" value="id">' in form and 'name="dpage"' not in form
    # Sort by submission number, ascending, from the header link.
    html = client.get("/review/?dsort=id").content.decode()
    assert _ids(html, "data-submission", scope) == sorted(s.pk for s in rejected + failed)[:25]
    assert 'aria-sort="ascending"><a class="sort" href="?dsort=-id"' in html
    assert not {s.pk for s in waiting} & set(_ids(html, "data-submission", scope))


def test_a_volunteer_reaches_every_own_submission_with_thumbnails(client, rater, campaigns) -> None:
    mine = _submissions(campaigns[0], 27, Submission.Status.FAILED, "m") + _submissions(
        campaigns[0], 3, Submission.Status.APPROVED, "a"
    )
    client.force_login(rater)
    scope = 'data-testid="my-submissions"'
    one = client.get("/collect/").content.decode()
    two = client.get("/collect/?page=2").content.decode()
    listed = _ids(one, "data-submission", scope) + _ids(two, "data-submission", scope)
    assert listed == sorted((s.pk for s in mine), reverse=True)
    assert one.count('class="thumb thumb-sm"') == 25 and "/thumb/" in one
    html = client.get("/collect/?status=approved").content.decode()
    assert _ids(html, "data-submission", scope) == sorted((s.pk for s in mine[-3:]), reverse=True)


def test_pool_images_and_jobs_are_paginated_and_filterable(client, admin_user) -> None:
    items = make_pool(40, target=3)
    done = items[:12]
    from annotation.scoring.models import PoolItem

    PoolItem.objects.filter(pk__in=[i.pk for i in done]).update(completed_at=timezone.now(), ratings_done=3)
    client.force_login(admin_user)
    seen = []
    for page in (1, 2):
        html = client.get(f"/scoring/progress/?page={page}").content.decode()
        seen += re.findall(r'<tr data-image="([0-9a-f]{64})"', html)
    assert sorted(seen) == sorted(i.image_id for i in items)
    html = client.get("/scoring/progress/?status=complete").content.decode()
    assert sorted(re.findall(r'<tr data-image="([0-9a-f]{64})"', html)) == sorted(i.image_id for i in done)
    prefix = items[30].image_id[:6]
    html = client.get(f"/scoring/progress/?q={prefix.upper()}&sort=ratings").content.decode()
    expected = sorted(i.image_id for i in items if i.image_id.startswith(prefix))
    assert sorted(re.findall(r'<tr data-image="([0-9a-f]{64})"', html)) == expected

    for i in range(30):
        job = job_create(
            kind="curation.filter" if i % 3 else "curation.release", created_by=admin_user, total=1
        )
        if i % 2:
            Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    jobs = list(Job.objects.values_list("pk", "kind", "status"))
    scope = 'data-testid="jobs-table"'
    one = client.get("/jobs/").content.decode()
    two = client.get("/jobs/?page=2").content.decode()
    assert _ids(one, "data-job", scope) + _ids(two, "data-job", scope) == sorted(
        (j[0] for j in jobs), reverse=True
    )
    assert 'data-live-head="25"' in one and "data-live-head" not in two  # live redraw only on the head
    html = client.get("/jobs/?kind=curation.release&status=succeeded").content.decode()
    assert sorted(_ids(html, "data-job", scope)) == sorted(
        pk for pk, kind, status in jobs if kind == "curation.release" and status == "succeeded"
    )


def test_gold_items_invitations_protocols_and_models_reach_every_row(client, admin_user) -> None:
    from annotation.models import Image, Standard
    from annotation.qualification.models import GoldItem, Invitation, Protocol
    from modeling.models import ModelVersion

    standard = Standard.objects.get(key="humanbeauty-v1")
    expert = {d.key: 0.5 for d in standard.dimensions.all()}
    golds = [
        GoldItem.objects.create(image=image, standard=standard, expert_mean=expert)
        for image in fake_images(50, prefix="gold")
    ]
    Image.objects.filter(sha256__in=[g.image_id for g in golds]).update(provenance="gold")
    protocol = Protocol.objects.create(name="p", standard=standard, created_by=admin_user)
    invitations = Invitation.objects.bulk_create(
        Invitation(protocol=protocol, token=f"tok{i}", email=f"v{i}@x.org") for i in range(60)
    )
    for i in range(21):
        Protocol.objects.create(name=f"extra{i}", standard=standard, created_by=admin_user)
    for i in range(22):
        ModelVersion.objects.create(version=f"v{i}", created_by=admin_user)
    client.force_login(admin_user)

    gold = [client.get(f"/qualification/admin/gold/?page={n}").content.decode() for n in (1, 2)]
    assert _ids(gold[0], "data-gold") + _ids(gold[1], "data-gold") == [g.pk for g in golds]
    pages = [client.get(f"/qualification/admin/{protocol.pk}/?ipage={n}").content.decode() for n in (1, 2)]
    listed = [re.findall(r"/qualification/join/(tok\d+)/", html) for html in pages]
    assert len(listed[0]) == 50 and listed[0] + listed[1] == [i.token for i in reversed(invitations)]
    names = []
    for n in (1, 2):
        names += re.findall(
            r">(extra\d+|p)</a></td>", client.get(f"/qualification/admin/?page={n}").content.decode()
        )
    assert sorted(names) == sorted(["p", *(f"extra{i}" for i in range(21))])
    versions = []
    for n in (1, 2):
        versions += re.findall(r'data-version="([^"]+)"', client.get(f"/models/?page={n}").content.decode())
    assert sorted(set(versions)) == sorted(f"v{i}" for i in range(22))


def test_campaigns_page_sort_and_filter_on_the_server(client, admin_user) -> None:
    from annotation.scoring.models import Campaign

    for i in range(30):
        campaign_create(
            created_by=admin_user,
            volunteers=[],
            name=f"Campaign {i:02d}",
            principles="x",
            target_count=10 + i,
        )
    Campaign.objects.filter(name__in=["Campaign 03", "Campaign 17"]).update(is_active=False)
    client.force_login(admin_user)
    names = []
    for n in (1, 2):
        html = client.get(f"/campaigns/?sort=name&page={n}").content.decode()
        names += re.findall(r'<tr data-campaign="\d+"><td><a href="[^"]+">([^<]+)</a>', html)
    assert names == [f"Campaign {i:02d}" for i in range(30)]
    html = client.get("/campaigns/?state=closed").content.decode()
    assert re.findall(r">(Campaign \d\d)</a>", html) == ["Campaign 17", "Campaign 03"]  # newest first
    html = client.get("/campaigns/?sort=-target&q=Campaign+2").content.decode()
    assert re.findall(r">(Campaign \d\d)</a>", html)[:3] == ["Campaign 29", "Campaign 28", "Campaign 27"]
