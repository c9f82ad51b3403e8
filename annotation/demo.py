"""Demo data for the core app: users of each role and demo images from photographs that installed
packages ship (scikit-image, matplotlib) plus non-human images for negative cases. No downloads."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from .models import Image, User
from .services.images import image_ingest

DEMO_PASSWORD = "humanbeauty-demo"
DEMO_USERS = [
    ("admin", User.Role.ADMIN),
    ("researcher", User.Role.RESEARCHER),
    *[(f"volunteer{i}", User.Role.VOLUNTEER) for i in range(1, 19)],
]


@dataclass(frozen=True)
class DemoImage:
    name: str
    data: bytes
    has_person: bool


def _jpeg(arr: np.ndarray, quality: int = 92) -> bytes:
    img = PILImage.fromarray(arr)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _variants(name: str, arr: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """A few honest photographic variants (crop, mirror, exposure, colour) of one photograph."""
    h, w = arr.shape[:2]
    yield name, arr
    yield f"{name}-mirror", arr[:, ::-1]
    yield f"{name}-crop", arr[: int(h * 0.92), int(w * 0.04) : int(w * 0.96)]
    yield f"{name}-bright", np.clip(arr.astype(np.float32) * 1.25 + 10, 0, 255).astype(np.uint8)
    yield f"{name}-dark", np.clip(arr.astype(np.float32) * 0.7, 0, 255).astype(np.uint8)
    if arr.ndim == 3:
        warm = arr.astype(np.float32) * np.array([1.12, 1.0, 0.85])
        yield f"{name}-warm", np.clip(warm, 0, 255).astype(np.uint8)


def demo_images() -> list[DemoImage]:
    from matplotlib import cbook
    from skimage import data as skdata
    from skimage.transform import resize

    out: list[DemoImage] = []
    people = {
        "astronaut": skdata.astronaut(),
        "camera": np.stack([skdata.camera()] * 3, axis=-1),
        "grace-hopper": np.asarray(PILImage.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")),
    }
    for name, arr in people.items():
        out.extend(DemoImage(n, _jpeg(a), True) for n, a in _variants(name, arr))
    # LFW crops (25x25 faces) upsampled and placed on a torso-like canvas: real faces, small images.
    lfw = skdata.lfw_subset()
    for i in range(6):
        face = (resize(lfw[i], (150, 150), order=3) * 255).astype(np.uint8)
        canvas = np.full((420, 300, 3), 200 + 5 * i, dtype=np.uint8)
        canvas[40:190, 75:225] = face[..., None]
        canvas[190:420, 60:240] = np.array([60 + 20 * i, 70, 110], dtype=np.uint8)  # clothing block
        out.append(DemoImage(f"lfw-{i}", _jpeg(canvas), True))
    non_human = {
        "coffee": skdata.coffee(),
        "chelsea-cat": skdata.chelsea(),
        "rocket": skdata.rocket(),
        "coins": np.stack([skdata.coins()] * 3, axis=-1),
    }
    out.extend(DemoImage(name, _jpeg(arr), False) for name, arr in non_human.items())
    return out


def demo_load_core(*, stdout: io.TextIOBase | None = None) -> dict[str, int]:
    users = 0
    for username, role in DEMO_USERS:
        user, created = User.objects.get_or_create(username=username, defaults={"role": role})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = role == User.Role.ADMIN
            user.is_superuser = False
            user.save()
            users += 1
    admin = User.objects.get(username="admin")
    images = 0
    for item in demo_images():
        _, created = image_ingest(
            data=item.data,
            provenance=Image.Provenance.DEMO,
            source="demo-person" if item.has_person else "demo-nonhuman",
            source_ref=item.name,
            uploaded_by=admin,
        )
        images += int(created)
    return {"users_created": users, "images_created": images}
