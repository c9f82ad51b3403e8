"""Every admin page and list API runs a constant number of queries: counted with one set of rows, then
again after more rows of every kind were added (a per-row query would show up as a difference)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Image, Standard, User
from annotation.qualification.models import Enrollment, GoldItem, Invitation, Protocol, Round
from annotation.scoring.models import Campaign, Submission
from annotation.services.jobs import job_create
from curation.models import Release, Source
from modeling.models import ModelVersion

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/jobs/",
    "/qualification/admin/",
    "/qualification/admin/gold/",
    "/qualification/admin/{protocol}/",
    "/review/",
    "/scoring/progress/",
    "/scoring/raters/",
    "/sources/",
    "/releases/",
    "/models/",
]
APIS = [
    "/api/jobs/",
    "/api/images/",
    "/api/standards/",
    "/api/qualification/protocols/",
    "/api/qualification/protocols/{protocol}/invitations/",
    "/api/qualification/protocols/{protocol}/funnel/",
    "/api/qualification/gold/",
    "/api/scoring/campaigns/",
    "/api/scoring/submissions/",
    "/api/curation/sources/",
    "/api/curation/releases/",
    "/api/modeling/versions/",
]


class World:
    """Rows of every kind the admin pages and lists show, added ``grow(n)`` at a time."""

    def __init__(self, admin: User) -> None:
        self.admin = admin
        self.standard = Standard.objects.get(key="humanbeauty-v1")
        self.protocol = Protocol.objects.create(name="p0", standard=self.standard, created_by=admin)
        self.campaign = Campaign.objects.create(name="c0", principles="x", standard=self.standard)
        self.i = 0
        self.expert = {d.key: 0.5 for d in self.standard.dimensions.all()}

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.i += 1
            i = self.i
            volunteer = User.objects.create_user(username=f"qc-vol{i}", password="x", role="volunteer")
            image = Image.objects.create(
                sha256=f"{i:064x}", original_sha256=f"{i:064x}", file=f"images/{i}.jpg", width=8, height=8,
                format="JPEG", size_bytes=1, provenance="public", source=f"s{i}", uploaded_by=volunteer,
            )  # fmt: skip
            gold_image = Image.objects.create(
                sha256=f"{i + 10_000:064x}", original_sha256=f"{i + 10_000:064x}", file=f"images/g{i}.jpg",
                width=8, height=8, format="JPEG", size_bytes=1, provenance="gold",
            )  # fmt: skip
            GoldItem.objects.create(image=gold_image, standard=self.standard, expert_mean=self.expert)
            protocol = Protocol.objects.create(name=f"p{i}", standard=self.standard, created_by=self.admin)
            Round.objects.create(protocol=protocol, number=1)
            Round.objects.create(protocol=self.protocol, number=i) if i <= 20 else None
            Invitation.objects.create(protocol=self.protocol, token=f"tok{i}", email=f"v{i}@x.org")
            Enrollment.objects.create(user=volunteer, protocol=self.protocol, round_number=1 + i % 3)
            campaign = Campaign.objects.create(name=f"c{i}", principles="x", standard=self.standard)
            campaign.volunteers.add(volunteer)
            Submission.objects.create(
                campaign=self.campaign, submitter=volunteer, upload=f"submissions/{i}.jpg",
                upload_sha256=f"{i:064x}", image=image, source_url="https://example.org/x.jpg",
                attestation=True, status="review",
            )  # fmt: skip
            Source.objects.create(
                key=f"src{i}", name=f"s{i}", importer="csv", root="/x", score_min=0, score_max=1
            )
            Release.objects.create(version=f"0.0.{i}", split_salt="s", created_by=self.admin)
            ModelVersion.objects.create(version=f"v{i}", created_by=self.admin)
            job_create(kind="curation.filter", created_by=self.admin, total=i)


@pytest.fixture
def world(admin_user) -> World:
    world = World(admin_user)
    world.grow(2)
    return world


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    if DEBUG:
        print(url, *(q["sql"][:160] for q in ctx.captured_queries), sep="\n  ")
    return len(ctx.captured_queries)


DEBUG = False


@pytest.mark.parametrize("url", PAGES)
def test_admin_page_runs_a_constant_number_of_queries(world, client, url) -> None:
    client.force_login(world.admin)
    url = url.format(protocol=world.protocol.pk)
    small = _count(client, url)
    world.grow(4)
    assert _count(client, url) == small


@pytest.mark.parametrize("url", APIS)
def test_list_api_runs_a_constant_number_of_queries(world, client_for, url) -> None:
    client = client_for(None, user=world.admin)
    url = url.format(protocol=world.protocol.pk)
    small = _count(client, url)
    world.grow(4)
    assert _count(client, url) == small


def test_filter_summaries_equal_the_per_source_summary(tmp_path) -> None:
    from curation.services.filtering import filter_summaries, filter_summary
    from tests.curation_app.conftest import SCUT_SCORES, write_scut
    from tests.curation_app.factories import public_source

    a = public_source(write_scut(tmp_path / "a", SCUT_SCORES), key="a", kept={"astronaut.jpg", "camera.jpg"})
    b = public_source(write_scut(tmp_path / "b", {"rocket": 1.0, "coffee": 2.0}), key="b")
    empty = Source.objects.create(key="empty", name="e", importer="csv", root="/x", score_min=0, score_max=1)
    sources = [a, b, empty]
    many = filter_summaries(sources=sources)
    assert many == {s.key: filter_summary(source=s) for s in sources}
    assert many["a"]["kept"] == 2 and many["a"]["filtered"] == many["a"]["items"] == len(SCUT_SCORES)
