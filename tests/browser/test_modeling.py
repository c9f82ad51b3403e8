"""Modeling pages in a browser: the registry with labelled paper columns, and upload-and-score."""

from __future__ import annotations

import pytest

from tests.modeling_app.conftest import photo_jpegs, train_tiny, write_release

from .conftest import hold_job_polls, login, screenshot, until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    from modeling.tiny import build_tiny_backbone

    base = tmp_path_factory.mktemp("browser-modeling")
    backbone = build_tiny_backbone(base / "backbone", seed=0)
    release = write_release(base / "release")
    return train_tiny(backbone, release, base / "ckpt"), release


@pytest.fixture(scope="module")
def release_metrics(trained_checkpoint):
    from modeling.evaluate import evaluate_release
    from modeling.scorer import Scorer

    ckpt, release = trained_checkpoint
    return evaluate_release(Scorer(ckpt, device="cpu"), release / "HumanAesExpert", split="test")


def test_admin_uploads_an_image_and_sees_the_12_dimensions(
    page, make_user, trained_checkpoint, release_metrics, tmp_path
) -> None:
    from annotation.standards.humanbeauty import DIMENSIONS
    from modeling.services import (
        json_safe,
        model_version_activate,
        model_version_create,
        model_version_register,
    )

    mv = model_version_register(
        model_version=model_version_create(version="browser-tiny"),
        checkpoint_path=trained_checkpoint[0],
        metrics=json_safe(release_metrics),
    )
    model_version_activate(model_version=mv, prescore=False)
    admin = make_user("admin", username="models-admin")
    login(page, admin.username)

    page.click("header nav >> text=Models")
    page.wait_for_selector("[data-testid=models-table]")
    text = page.inner_text("main")
    assert "browser-tiny" in text and "paper mse (= RMSE)" in text and "paper mae (= √MAE)" in text
    page.click("text=Every head")
    heads = page.inner_text("[data-testid=models-table]")
    assert all(
        label in heads for label in ("MetaVoter (final)", "LM head", "Regression head", "Facial Brightness")
    )
    screenshot(page, "modeling-models")
    page.goto("/")
    assert "browser-tiny" in page.inner_text("[data-panel=modeling]")
    page.goto("/models/")

    photo = tmp_path / "hopper.jpg"
    photo.write_bytes(photo_jpegs(3)[2])
    page.click("text=Score an image")
    page.set_input_files("[data-testid=score-file]", str(photo))
    # Hold the job's status polls at "running" until the in-flight state has been checked: the button is
    # disabled with a spinner and the page shows the job's progress; then the real status comes through.
    held = hold_job_polls(page, message="scoring 0 of 1", done=0, total=1)
    page.click("[data-testid=score-submit]")
    until(page, "() => document.getElementById('score-status').textContent.includes('scoring 0 of 1')")
    submit = page.locator("[data-testid=score-submit]")
    assert submit.is_disabled() and submit.get_attribute("aria-busy") == "true"
    assert submit.locator(".spinner").count() == 1 and "Scoring…" in submit.inner_text()
    assert page.locator("#score-result").is_hidden()
    assert held["polls"] >= 1
    held["release"] = True
    page.wait_for_selector("[data-testid=score-dims] tr[data-dim=overall]")
    assert submit.is_enabled() and submit.get_attribute("aria-busy") is None
    rows = page.locator("[data-testid=score-dims] tr")
    assert rows.count() == 12
    table = page.inner_text("[data-testid=score-result]")
    for dim in DIMENSIONS:
        assert dim.name in table
    assert "MetaVoter (final)" in table and "browser-tiny" in table
    assert screenshot(page, "modeling-score").stat().st_size > 5000


def test_bad_upload_shows_an_error(page, make_user, trained_checkpoint, tmp_path) -> None:
    from modeling.services import model_version_activate, model_version_create, model_version_register

    mv = model_version_register(
        model_version=model_version_create(version="browser-bad"), checkpoint_path=trained_checkpoint[0]
    )
    model_version_activate(model_version=mv, prescore=False)
    researcher = make_user("researcher", username="models-researcher")
    login(page, researcher.username)
    bogus = tmp_path / "not-an-image.jpg"
    bogus.write_bytes(b"this is not an image")
    page.goto("/models/score/")
    page.set_input_files("[data-testid=score-file]", str(bogus))
    page.click("[data-testid=score-submit]")
    page.wait_for_selector("#score-error:not([hidden])")
    assert page.inner_text("#score-error")
