"""Pages render for the right roles; the demo builds release 1.0.0 idempotently; the CLI dry-runs."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from curation.models import Release, Source

from .conftest import SCUT_SCORES, write_scut
from .factories import collected_aggregates, public_source

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_pages_by_role(make_user, tmp_path, django_capture_on_commit_callbacks):
    from curation.services.releases import release_create

    public_source(write_scut(tmp_path / "scut", SCUT_SCORES))
    collected_aggregates(2)
    with django_capture_on_commit_callbacks(execute=True):
        release_create(version="1.0.0")
    collected_aggregates(1, start=10)
    with django_capture_on_commit_callbacks(execute=True):
        release_create(version="1.1.0")
    researcher, admin, volunteer = make_user("researcher"), make_user("admin"), make_user("volunteer")
    r = _client(researcher)
    page = r.get("/releases/").content.decode()
    assert "1.1.0" in page and "1.0.0" in page and "Compare two releases" in page
    # from the previous release to the newest, both in the default standard's group
    assert '<optgroup label="humanbeauty-v1"><option>1.1.0</option><option selected>1.0.0</option>' in page
    assert "Only admins publish releases." in page and "Preview changes" not in page
    admin_page = _client(admin).get("/releases/").content.decode()
    assert "Preview changes" in admin_page and "upper_inclusive" in admin_page
    page = r.get("/releases/1.0.0/").content.decode()
    assert "stats/levels.png" in page and "Dataset card" in page and "<h2" in page
    page = r.get("/releases/1.0.0/compare/1.1.0/").content.decode()
    assert "Added: <strong>1</strong>" in page
    assert "1.1.0" in r.get("/").content.decode()  # the researcher's dashboard panel
    assert r.get("/sources/").status_code == 403
    assert r.get("/releases/9.9.9/").status_code == 404
    a = _client(admin)
    assert "scut_fbp5500" in a.get("/sources/").content.decode()
    assert "Public sources" in a.get("/").content.decode()
    assert _client(volunteer).get("/releases/").status_code == 403


def test_demo_load_builds_release_idempotently(settings, tmp_path):
    from curation.demo import demo_load

    settings.VAR_DIR = tmp_path / "var"
    first = demo_load()
    release = Release.objects.get(version="1.0.0")
    assert release.status == Release.Status.PUBLISHED, release.error
    assert first["filter"]["kept"] >= 10 and first["filter"]["rejected"] >= 4
    second = demo_load()
    assert second["source_items_created"] == 0
    assert Release.objects.count() == 1 and Release.objects.get().release_sha256 == release.release_sha256


def test_demo_publishes_the_artimuse_release_beside_the_humanbeauty_one(settings, tmp_path, admin_user):
    """Once the scoring demo's ArtiMuse campaign is complete, load_demo publishes 1.0.0-artimuse (ArtiMuse's
    layout, its own lineage) and leaves the HumanBeauty release alone; running it again changes nothing."""
    from annotation.scoring.demo import artimuse_demo_load
    from annotation.standards import artimuse
    from curation.demo import ARTIMUSE_VERSION, demo_load

    settings.VAR_DIR = tmp_path / "var"
    assert artimuse_demo_load(admin=admin_user)["complete"] == 4
    first = demo_load()
    am = Release.objects.get(version=ARTIMUSE_VERSION)
    assert am.status == Release.Status.PUBLISHED, am.error
    assert am.standard.key == artimuse.KEY and am.previous is None
    assert am.counts["per_part"] == {"std": 4} and am.counts["per_split"] == {"train": 3, "test": 1}
    hb = Release.objects.get(version="1.0.0")
    assert "std" not in hb.counts["per_part"] and hb.standard.key == "humanbeauty-v1"
    assert (Path(am.path) / "test.json").is_file() and first["artimuse_release"].startswith(ARTIMUSE_VERSION)
    demo_load()
    assert Release.objects.count() == 2
    assert Release.objects.get(version=ARTIMUSE_VERSION).release_sha256 == am.release_sha256


@pytest.mark.django_db(transaction=True)  # the commands enqueue on commit and then watch the job
def test_cli_dry_runs_and_execute(tmp_path):
    root = write_scut(tmp_path / "scut", {"astronaut": 4.0, "coffee": 2.0, "grace-hopper": 3.0})
    out = StringIO()
    call_command("curation_import", "--source", "scut_fbp5500", "--root", str(root), stdout=out)
    assert "3 usable" in out.getvalue() and not Source.objects.exists()
    call_command(
        "curation_import",
        "--source",
        "scut_fbp5500",
        "--root",
        str(root),
        "--execute",
        stdout=out,
        stderr=StringIO(),
    )
    assert Source.objects.get().items.count() == 3
    out = StringIO()
    call_command("curation_filter", "--source", "scut_fbp5500", stdout=out)
    assert "3 without a result" in out.getvalue()
    out = StringIO()
    call_command("curation_filter", "--source", "scut_fbp5500", "--execute", stdout=out, stderr=StringIO())
    assert "kept 2" in out.getvalue()
    out = StringIO()
    call_command("curation_release", "--release", "1.0.0", stdout=out)
    assert "58K part 2 kept" in out.getvalue() and not Release.objects.exists()
    call_command("curation_release", "--release", "1.0.0", "--execute", stdout=out, stderr=StringIO())
    assert Release.objects.get().is_published
    out = StringIO()
    call_command("curation_release", "--release", "1.0.0", "--verify", stdout=out)
    assert "'identical': True" in out.getvalue()
