"""Bounded parameters (serializer 400 naming the field + database check) and constant query counts of the
funnel and the job list (API and page) at two data sizes."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from annotation.models import Standard
from annotation.qualification.models import Protocol
from annotation.scoring.models import Campaign
from annotation.services.jobs import job_create
from curation.models import Release, Source

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        ("/api/qualification/protocols/", {"name": "p", "n_iterations": 32766}, "n_iterations"),
        ("/api/qualification/protocols/", {"name": "p", "min_mean_srcc": 3.56e15}, "min_mean_srcc"),
        ("/api/qualification/protocols/", {"name": "p", "max_attempts": 9754}, "max_attempts"),
        ("/api/qualification/protocols/", {"name": "p", "retake_delay": "400 00:00:00"}, "retake_delay"),
        (
            "/api/scoring/campaigns/",
            {"name": "c", "principles": "x", "target_count": 10, "ratings_cap": 5000},
            "ratings_cap",
        ),
        ("/api/scoring/campaigns/", {"name": "c", "principles": "x", "target_count": 10**9}, "target_count"),
        ("/api/curation/releases/", {"version": "1.0.0", "test_fraction": 0.9}, "test_fraction"),
        ("/api/curation/sources/bounded/filter/", {"chunk_size": 10**6}, "chunk_size"),
        ("/api/curation/sources/bounded/filter/", {"min_face_size_px": 1e9}, "min_face_size_px"),
        (
            "/api/modeling/versions/",
            {"version": "v", "release_dir": "r", "backbone_path": "b", "max_steps": 10**12},
            "max_steps",
        ),
    ],
)
def test_out_of_bounds_parameters_get_a_400_naming_the_field(client_for, url, payload, field) -> None:
    Source.objects.create(
        key="bounded", name="b", importer="csv", root="/nonexistent", score_min=0, score_max=1
    )
    response = client_for("admin").post(url, payload, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["message"].startswith(f"{field}:") and field in body["extra"]["fields"], body


def test_the_database_refuses_out_of_bounds_values_from_any_path(admin_user) -> None:
    standard = Standard.objects.get(key="humanbeauty-v1")
    protocol = Protocol.objects.create(name="p", standard=standard)
    campaign = Campaign.objects.create(name="c", principles="x", standard=standard)
    release = Release.objects.create(version="9.9.9", split_salt="s")
    for qs, values in [
        (Protocol.objects.filter(pk=protocol.pk), {"n_iterations": 32766}),
        (Protocol.objects.filter(pk=protocol.pk), {"min_mean_srcc": 3.56e15}),
        (Protocol.objects.filter(pk=protocol.pk), {"max_attempts": 9754}),
        (Campaign.objects.filter(pk=campaign.pk), {"ratings_cap": 5000}),
        (Release.objects.filter(pk=release.pk), {"test_fraction": 0.9}),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            qs.update(**values)
    Protocol.objects.filter(pk=protocol.pk).update(n_iterations=20, max_attempts=10)  # the bounds themselves


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_funnel_runs_a_constant_number_of_queries(client_for, make_user) -> None:
    from annotation.qualification.models import Enrollment

    client = client_for("admin")
    protocol = Protocol.objects.create(name="p", standard=Standard.objects.get(key="humanbeauty-v1"))
    small = _queries(client, f"/api/qualification/protocols/{protocol.pk}/funnel/")
    Protocol.objects.filter(pk=protocol.pk).update(n_iterations=20)
    for i in range(12):
        Enrollment.objects.create(user=make_user("volunteer"), protocol=protocol, round_number=1 + i % 5)
    large = _queries(client, f"/api/qualification/protocols/{protocol.pk}/funnel/")
    assert large == small, (small, large)
    funnel = client.get(f"/api/qualification/protocols/{protocol.pk}/funnel/").json()["funnel"]
    assert len(funnel["rounds"]) == 20 and funnel["joined"] == 12
    assert [r["entered"] for r in funnel["rounds"][1:5]] == [9, 6, 4, 2]  # round_number >= n


@pytest.mark.parametrize("url", ["/api/jobs/", "/jobs/"])
def test_job_list_runs_a_constant_number_of_queries(client_for, client, admin_user, url) -> None:
    api = client_for(None, user=admin_user)
    client.force_login(admin_user)
    reader = api if url.startswith("/api/") else client
    for i in range(3):
        job_create(kind="thumbnails", created_by=admin_user, total=i + 1)
    small = _queries(reader, url)
    for i in range(40):
        job_create(kind="curation.filter", created_by=admin_user, total=i + 1)
    assert _queries(reader, url) == small
