"""Fixtures: public-source folders in native layouts built from real photographs (faces and non-faces)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _project_celery_app_is_current():
    """A test that builds its own ``Celery(broker=...)`` sender without ``set_as_current=False`` makes it the
    current app, and ``shared_task`` proxies would then send to Redis instead of running eagerly (a job
    would never finish). Make the project's (eager, in tests) app current again."""
    from humanbeauty.celery import app

    app.set_current()
    app.set_default()


@cache
def demo_photos() -> dict[str, tuple[bytes, bool]]:
    """name -> (jpeg bytes, has a person) from the core demo photographs (no downloads)."""
    from annotation.demo import demo_images

    wanted = {
        "astronaut",
        "astronaut-mirror",
        "grace-hopper",
        "grace-hopper-warm",
        "camera",
        "lfw-0",
        "coffee",
        "rocket",
        "chelsea-cat",
    }
    return {d.name: (d.data, d.has_person) for d in demo_images() if d.name in wanted}


def write_scut(root: Path, scores: dict[str, float], *, extra_lines: str = "") -> Path:
    """SCUT-FBP5500 layout: Images/<name>.jpg + train_test_files/All_labels.txt."""
    photos = demo_photos()
    (root / "Images").mkdir(parents=True, exist_ok=True)
    (root / "train_test_files").mkdir(exist_ok=True)
    lines = []
    for name, score in scores.items():
        (root / "Images" / f"{name}.jpg").write_bytes(photos[name][0])
        lines.append(f"{name}.jpg {score}")
    (root / "train_test_files" / "All_labels.txt").write_text("\n".join(lines) + "\n" + extra_lines)
    return root


def write_csv_source(root: Path, scores: dict[str, float]) -> Path:
    """Generic CSV layout: scores.csv (image,score) + images/."""
    photos = demo_photos()
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = ["image,score"]
    for name, score in scores.items():
        (root / "images" / f"{name}.jpg").write_bytes(photos[name][0])
        rows.append(f"{name}.jpg,{score}")
    (root / "scores.csv").write_text("\n".join(rows) + "\n")
    return root


SCUT_SCORES = {
    "astronaut": 4.2,
    "grace-hopper": 3.1,
    "camera": 2.0,
    "lfw-0": 2.6,
    "coffee": 3.3,
    "rocket": 1.5,
}


@pytest.fixture
def scut_root(tmp_path) -> Path:
    return write_scut(
        tmp_path / "scut",
        SCUT_SCORES,
        extra_lines="missing.jpg 3.0\nastronaut.jpg 2.0\nbad.jpg x\n",
    )
