"""Pre-scoring throughput through the platform vs the bare scorer (tiny path, CPU by default).

Platform: ``modeling.services.prescore_pending`` = select the open pool items lacking a prediction, read each
image from the store, score in batches, ``bulk_create`` the predictions, set the queue priority, report Job
progress. Bare: ``Scorer.score_images`` on the same images already decoded in memory. The gap is the
platform's overhead (storage reads + decode + DB writes).

Runs on a throwaway SQLite database and temporary media/model directories unless ``DATABASE_URL`` is set:

    python bench/bench_prescore.py                  # 128 images, batch 8, best of 5, tiny backbone
    python bench/bench_prescore.py --images 256 --batch 16 --repeats 3
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere


def _photos(n: int, size: tuple[int, int] = (96, 120)) -> list[bytes]:
    import numpy as np
    from PIL import Image
    from skimage import data

    sources = [Image.fromarray(data.astronaut()), Image.fromarray(data.camera()).convert("RGB")]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        src = sources[i % 2]
        w, h = src.size
        x, y = int(rng.integers(0, w // 3)), int(rng.integers(0, h // 3))
        crop = src.crop((x, y, x + w // 2, y + h // 2)).resize(size)
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (each on fresh predictions)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-prescore-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'db.sqlite3'}")
    os.environ["DJANGO_MEDIA_ROOT"] = str(tmp / "media")
    os.environ["HB_MODELS_ROOT"] = str(tmp / "models")
    os.environ["HB_RELEASES_ROOT"] = str(tmp / "releases")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humanbeauty.settings")
    import django

    django.setup()
    import torch
    from django.conf import settings
    from django.core.management import call_command

    if args.threads:
        torch.set_num_threads(args.threads)
    settings.HB_MODELING_BATCH_SIZE = args.batch
    call_command("migrate", verbosity=0)

    import hashlib

    from annotation.models import Image
    from annotation.scoring.services.pool import pool_add
    from annotation.selectors import default_standard
    from annotation.services.images import image_decode, image_ingest
    from modeling.demo import DEMO_TRAIN_CONFIG, release_from_images
    from modeling.models import Prediction
    from modeling.services import model_train_run, model_train_start, model_version_activate, prescore_pending
    from modeling.services.scoring import scorer_for
    from modeling.tiny import build_tiny_backbone

    t0 = time.perf_counter()
    backbone = build_tiny_backbone(tmp / "models" / "tiny-backbone", seed=0)
    store = tmp / "store"
    store.mkdir()
    pairs = []
    for data in _photos(12, (72, 88)):
        sha = hashlib.sha256(data).hexdigest()
        (store / f"{sha}.jpg").write_bytes(data)
        pairs.append((sha, store / f"{sha}.jpg"))
    release = release_from_images(pairs, tmp / "releases" / "bench-0.0.1", version="0.0.1")
    job = model_train_start(
        version="bench-tiny",
        release_dir=release,
        backbone_path=backbone,
        config=DEMO_TRAIN_CONFIG,
        max_steps=2,
        enqueue=False,
    )
    model_train_run(job_id=job.pk)
    from modeling.models import ModelVersion

    mv = model_version_activate(model_version=ModelVersion.objects.get(version="bench-tiny"), prescore=False)
    setup_s = time.perf_counter() - t0

    standard = default_standard()
    blobs = _photos(args.images)
    for k, data in enumerate(blobs):
        image, _ = image_ingest(data=data, provenance=Image.Provenance.COLLECTED, source_ref=f"bench-{k}")
        pool_add(image=image, standard=standard)
    decoded = [image_decode(data=b).image for b in blobs]
    scorer = scorer_for(mv)
    scorer.score_images(decoded[: args.batch])  # warm-up

    bare, platform = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scorer.score_images(decoded)
        bare.append(time.perf_counter() - start)
        Prediction.objects.all().delete()
        start = time.perf_counter()
        result = prescore_pending()
        platform.append(time.perf_counter() - start)
        assert result["scored"] == args.images, result

    n = args.images
    print(
        f"device: cpu · torch threads {torch.get_num_threads()} · batch {args.batch} · images {n} "
        f"(96x120 JPEG, tiling off, 2 passes/image) · setup (backbone + release + train) {setup_s:.1f} s"
    )
    print(
        f"bare Scorer.score_images   : {n / min(bare):8.1f} images/s  (best of {args.repeats}; {min(bare):.3f} s)"
    )
    print(
        f"platform prescore_pending  : {n / min(platform):8.1f} images/s  (best of {args.repeats}; "
        f"{min(platform):.3f} s: storage read + decode + score + bulk insert + priority + job)"
    )
    print(f"platform / bare            : {min(bare) / min(platform):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
