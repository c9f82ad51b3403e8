"""Fixtures of the modeling platform tests: real demo photographs, a small release written with the pure
release writer, a tiny InternVL backbone, and a checkpoint trained once per session."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

# Small so that CPU training stays fast; overall-only and 12-dimension samples alternate.
TINY_CONFIG: dict[str, Any] = {
    "tiling": False,
    "effective_batch_size": 2,
    "per_device_batch_size": 2,
    "metavoter_epochs": 3,
    "metavoter_batch_size": 4,
    "learning_rate": 1e-3,
}


def photo_jpegs(n: int = 12) -> list[bytes]:
    """JPEG bytes of real photographs shipped by installed packages: astronaut crops, camera, Grace Hopper."""
    from matplotlib import cbook
    from skimage import data

    astronaut = PILImage.fromarray(data.astronaut())
    camera = PILImage.fromarray(data.camera()).convert("RGB")
    with PILImage.open(cbook.get_sample_data("grace_hopper.jpg")) as img:
        hopper = img.convert("RGB")
    sources = [astronaut, camera, hopper]
    out = []
    for i in range(n):
        src = sources[i % 3]
        w, h = src.size
        x, y = (37 * i) % max(1, w // 3), (23 * i) % max(1, h // 3)
        crop = src.crop((x, y, x + w * 2 // 3, y + h * 2 // 3)).resize((72, 88))
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def store_files(root: Path, blobs: list[bytes]) -> list[tuple[str, Path]]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for data in blobs:
        sha = hashlib.sha256(data).hexdigest()
        path = root / f"{sha}.jpg"
        path.write_bytes(data)
        out.append((sha, path))
    return out


def train_tiny(backbone: Path, release: Path, out: Path, max_steps: int = 3) -> Path:
    """Both stages on the bare core (no Django), for tests that need a ready version but not training."""
    from modeling.configuration import HumanAesExpertConfig
    from modeling.train import run_training

    config = HumanAesExpertConfig.from_dict({**TINY_CONFIG, "backbone_path": str(backbone)})
    return run_training(
        release_dir=release / "HumanAesExpert",
        backbone_path=backbone,
        out_dir=out,
        config=config,
        max_steps=max_steps,
        log=None,
    )


def write_release(base: Path) -> Path:
    from modeling.demo import release_from_images

    images = store_files(base / "store", photo_jpegs(12))
    return release_from_images(images, base / "HumanBeauty-0.1.0", version="0.1.0", test_fraction=0.3)


@pytest.fixture(scope="session")
def backbone_dir(tmp_path_factory) -> Path:
    from modeling.tiny import build_tiny_backbone

    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-backbone"), seed=0)


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory) -> Path:
    out = write_release(tmp_path_factory.mktemp("release"))
    hae = out / "HumanAesExpert"
    assert (hae / "train_label.jsonl").read_text().strip() and (hae / "test_label.jsonl").read_text().strip()
    return out


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, backbone_dir, release_dir) -> Path:
    """Both stages once per session (bare core)."""
    return train_tiny(backbone_dir, release_dir, tmp_path_factory.mktemp("ckpt") / "run")


@pytest.fixture
def ready_version(db, trained_checkpoint):
    """A registered, active version on the session checkpoint (no pre-scoring queued)."""
    from modeling.services import model_version_activate, model_version_create, model_version_register

    mv = model_version_create(version="session-tiny")
    mv = model_version_register(model_version=mv, checkpoint_path=trained_checkpoint, metrics={})
    return model_version_activate(model_version=mv, prescore=False)


@pytest.fixture
def pool_images(db):
    """Approved images in the scoring pool (real bytes in the store, through the scoring app's service)."""
    from annotation.models import Standard
    from annotation.scoring.services.pool import pool_add
    from annotation.services.images import image_ingest

    standard = Standard.objects.get(key="humanbeauty-v1")
    items = []
    for k, data in enumerate(photo_jpegs(15)[12:] + [_noise_jpeg(s) for s in range(3)]):
        image, _ = image_ingest(data=data, provenance="collected", source_ref=f"pool-{k}")
        items.append(pool_add(image=image, standard=standard)[0])
    return items


def _noise_jpeg(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, size=(80, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def certified_rater(make_user, admin_user):
    from annotation.qualification.contract import volunteer_certify_by_admin

    user = make_user("volunteer", username="modeling-rater")
    volunteer_certify_by_admin(user=user, admin=admin_user, reason="test")
    return user
