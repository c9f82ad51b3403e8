"""A release of the second standard (ArtiMuse's 8 attributes) end to end at the API: certified raters score
collected images with a comment per attribute through the real queue, the release job freezes and writes
them in ArtiMuse's layout (images/ + train.json/test.json with named attributes and the raters' comments,
scores.csv, the raw ratings with comments), and the card states figures computed from those ratings.
Releases of one standard neither diff against nor block another's."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from annotation.models import Image, Standard, User
from annotation.services.images import image_ingest
from annotation.standards import artimuse
from curation.models import Release, ReleaseMember
from tests.conftest import jpeg_bytes

pytestmark = pytest.mark.django_db

N_IMAGES = 6  # one stratum of 6: round(0.1 * 6) = 1 test image
VERSION = "1.0.0-artimuse"


def _comment(rater: int, key: str, sha: str) -> str:
    return f"rater {rater} on {key} of {sha[:8]}: balanced, warm light"


def _score(rater: int, d: int, k: int) -> float:
    return round(0.3 + 0.05 * k + 0.02 * d + 0.01 * rater, 3)


def _rate_all(clients, images, capture) -> None:
    order = {img.sha256: k for k, img in enumerate(images)}
    for n, client in enumerate(clients):
        for _ in images:
            item = client.post("/api/scoring/next/").json()["item"]
            assert item["standard"] == artimuse.KEY
            sha = item["image"]
            scores = {key: _score(n, d, order[sha]) for d, key in enumerate(artimuse.ATTRIBUTE_KEYS)}
            comments = {key: _comment(n, key, sha) for key in artimuse.ATTRIBUTE_KEYS}
            with capture(execute=True):
                ok = client.post(
                    "/api/scoring/ratings/",
                    {"image": sha, "scores": scores, "comments": comments},
                    format="json",
                )
            assert ok.status_code == 201, ok.json()
        assert client.post("/api/scoring/next/").json()["item"] is None


def test_artimuse_ratings_through_the_queue_to_a_release_in_artimuse_layout(
    client_for, admin_user, django_capture_on_commit_callbacks
) -> None:
    from rest_framework.test import APIClient

    from annotation.qualification.contract import volunteer_certify_by_admin
    from annotation.scoring.services.collection import campaign_create
    from annotation.scoring.services.pool import pool_add

    standard = Standard.objects.get(key=artimuse.KEY)
    campaign = campaign_create(
        created_by=admin_user, name="ArtiMuse release", principles="Any artwork", target_count=N_IMAGES,
        standard=standard, ratings_target=3, ratings_step=1, ratings_cap=3,
    )  # fmt: skip
    images = []
    for k in range(N_IMAGES):
        image, _ = image_ingest(
            data=jpeg_bytes(60, 80, seed=700 + k), provenance=Image.Provenance.COLLECTED, source="art-e2e"
        )
        pool_add(image=image, standard=standard, campaign=campaign)
        images.append(image)
    clients, users = [], []
    for k in range(3):
        user = User.objects.create_user(username=f"am-rater{k}", password="x", role=User.Role.VOLUNTEER)
        volunteer_certify_by_admin(user=user, admin=admin_user, reason="e2e")
        client = APIClient()
        client.force_authenticate(user)
        clients.append(client)
        users.append(user)
    _rate_all(clients, images, django_capture_on_commit_callbacks)

    admin = client_for("admin")
    preview = admin.get("/api/curation/releases/preview/", {"standard": artimuse.KEY}).json()
    assert preview["standard_key"] == artimuse.KEY and preview["from"] is None
    assert preview["per_part"] == {"std": N_IMAGES} and preview["changed"]
    hb_preview = admin.get("/api/curation/releases/preview/").json()
    assert "std" not in hb_preview["per_part"]  # the default standard's release does not take them

    with django_capture_on_commit_callbacks(execute=True):
        resp = admin.post(
            "/api/curation/releases/", {"version": VERSION, "standard_key": artimuse.KEY}, format="json"
        )
    assert resp.status_code == 202, resp.json()
    assert resp.json()["standard"] == artimuse.KEY
    release = Release.objects.get(version=VERSION)
    assert release.status == Release.Status.PUBLISHED, release.error
    assert release.standard == standard and release.name == "HumanBeauty-ArtiMuse"
    assert ReleaseMember.objects.filter(release=release, part="std").count() == N_IMAGES
    listed = {r["version"]: r for r in admin.get("/api/curation/releases/").json()}
    assert listed[VERSION]["standard"] == artimuse.KEY
    out = Path(release.path)

    # ArtiMuse's layout: images/ + train.json / test.json with 8 named attributes and the comments
    train = json.loads((out / "train.json").read_text())
    test = json.loads((out / "test.json").read_text())
    assert len(test) == 1 and len(train) == N_IMAGES - 1
    names = {a[0]: a[1] for a in artimuse.ATTRIBUTES}
    by_sha = {img.sha256: k for k, img in enumerate(images)}
    for entry in train + test:
        assert (out / "images" / entry["image"]).is_file()
        sha = entry["image"].split(".")[0]
        k = by_sha[sha]
        attrs = entry["attributes"]
        assert [a["key"] for a in attrs] == list(artimuse.ATTRIBUTE_KEYS)
        assert [a["name"] for a in attrs] == [names[a["key"]] for a in attrs]
        for d, a in enumerate(attrs):
            assert a["comments"] == [_comment(n, a["key"], sha) for n in _rater_order(release, users)]
            # psi of three raters whose offsets differ by 0.01: about the plain mean
            assert a["score"] == pytest.approx(_score(1, d, k), abs=0.02)
        assert entry["gt_score"] == attrs[-1]["score"]  # the comprehensive evaluation

    # scores.csv: named columns per attribute; the plain MOS is the raters' mean
    with (out / "scores.csv").open() as fh:
        rows = {r["image_id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(by_sha)
    row = rows[images[0].sha256]
    assert float(row["composition_mos"]) == pytest.approx(_score(1, 0, 0))
    assert row["comprehensive_n"] == "3" and row["official_split"] in ("train", "test")
    assert float(row["score"]) == float(row["comprehensive_score"])

    # the raw ratings: one row per rating, a score and a comment per attribute, pseudonymous raters
    with (out / "ratings/ratings.csv").open() as fh:
        ratings = list(csv.DictReader(fh))
    assert len(ratings) == 3 * N_IMAGES
    assert all(r[f"{k}_comment"].endswith("balanced, warm light") for r in ratings for k in names)
    assert {r["rater"] for r in ratings}.isdisjoint({f"am-rater{k}" for k in range(3)})

    # the card and release.json: figures from this release's data
    manifest = json.loads((out / "release.json").read_text())
    facts = manifest["facts"]
    assert manifest["layout"] == "artimuse" and manifest["standard_key"] == artimuse.KEY
    assert manifest["dimension_keys"] == list(artimuse.ATTRIBUTE_KEYS)
    assert facts["ratings"]["n_raters"] == 3 and facts["ratings"]["n_ratings"] == 18
    assert facts["ratings"]["ratings_per_image"] == {"min": 3, "median": 3.0, "max": 3}
    assert facts["images_per_split"] == {"train": N_IMAGES - 1, "test": 1}
    card = (out / "README.md").read_text()
    assert "- raters: 3" in card and "- ratings: 18, with 144 attribute comments" in card
    assert f"- images: {N_IMAGES} (train {N_IMAGES - 1}, test 1)" in card
    assert "min 3, median 3.0, max 3" in card
    # reliability per attribute from the raw ratings: in release.json and, the same figures, on the card
    reliability = facts["ratings"]["reliability"]
    assert set(reliability) == set(artimuse.ATTRIBUTE_KEYS)  # (release.json sorts its keys)
    for key, rel in reliability.items():
        row = next(line for line in card.splitlines() if line.startswith(f"| `{key}` |"))
        assert row.endswith(f"| {rel['icc_1k']:.3f} |"), row
    card_api = admin.get(f"/api/curation/releases/{VERSION}/card/")
    assert card_api.status_code == 200

    # lineage per standard: nothing changed for ArtiMuse (409), the default standard's lineage is apart
    again = admin.post(
        "/api/curation/releases/", {"version": "1.0.1-artimuse", "standard_key": artimuse.KEY}, format="json"
    )
    assert again.status_code == 409, again.json()
    assert admin.get("/api/curation/releases/preview/", {"standard": artimuse.KEY}).json()["from"] == VERSION
    assert admin.get("/api/curation/releases/preview/").json()["from"] is None

    # the releases page lists it with its standard, and offers the standard when publishing
    from django.test import Client

    page = Client()
    page.force_login(admin_user)
    html = page.get("/releases/").content.decode()
    row = html[html.index(f'data-version="{VERSION}"') :].split("</tr>")[0]
    assert f"<code>{artimuse.KEY}</code>" in row
    assert f'<option value="{artimuse.KEY}">' in html
    assert page.get(f"/releases/{VERSION}/").status_code == 200

    # releases of different standards share no lineage: comparing them is refused on the API and the page
    from annotation.selectors import default_standard

    Release.objects.create(
        version="1.0.0", standard=default_standard(), status=Release.Status.PUBLISHED, release_sha256="0" * 64
    )
    cross = admin.get(f"/api/curation/releases/1.0.0/compare/{VERSION}/")
    assert cross.status_code == 400 and "different standards" in cross.json()["message"], cross.content
    shown = page.get(f"/releases/1.0.0/compare/{VERSION}/", follow=True)
    assert shown.redirect_chain[-1][0] == "/releases/" and "different standards" in shown.content.decode()
    # the page's compare form offers only pairs within one standard: one release each, so none
    assert [key for key, _ in shown.context["comparable"]] == []
    assert 'id="compare-form"' not in shown.content.decode()

    # the rebuild from the frozen rows is byte-identical
    from curation.services.releases import release_verify

    assert release_verify(release=release)["identical"]


def _rater_order(release: Release, users: list[User]) -> list[int]:
    """Rater indices in the order of their pseudonyms (the comments' order in the lists)."""
    from curation.services.releases import rater_pseudonym

    return sorted(range(len(users)), key=lambda n: rater_pseudonym(release.rater_salt, users[n].pk))


def test_a_standard_without_a_release_layout_is_refused(client_for) -> None:
    from annotation.services.standards import standard_create_from_spec

    spec = artimuse.spec() | {"key": "other-v1", "name": "Other"}
    standard_create_from_spec(spec=spec)
    resp = client_for("admin").post(
        "/api/curation/releases/", {"version": "9.0.0", "standard_key": "other-v1"}, format="json"
    )
    assert resp.status_code == 400 and resp.json()["extra"]["field"] == "standard_key"
    assert "no release layout" in resp.json()["message"]
