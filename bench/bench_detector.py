"""Benchmark: bare RetinaFace detector throughput on a fixed set of real photographs.

Images (all resized to 512x512 RGB): skimage astronaut, camera, matplotlib grace_hopper, and the first
``--lfw`` faces + the last ``--lfw`` non-faces of ``skimage.data.lfw_subset()`` upsampled from 25 px.
Reports images/s and ms/image for ``FaceDetector.detect`` (decode/resize excluded), after a warm-up.

    .venv/bin/python bench/bench_detector.py [--lfw 20] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.faces import FaceDetector, lfw_images


def image_set(n_lfw: int) -> list[np.ndarray]:
    import matplotlib.cbook as cbook
    import skimage.data as data

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        grace = Image.open(fh).convert("RGB")
    imgs = [Image.fromarray(data.astronaut()), Image.fromarray(data.camera()).convert("RGB"), grace]
    lfw, _ = lfw_images(112, 112)
    imgs += [Image.fromarray(a).convert("RGB") for a in lfw[:n_lfw] + lfw[100 : 100 + n_lfw]]
    return [np.asarray(im.resize((512, 512), Image.BILINEAR)) for im in imgs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    imgs = image_set(args.lfw)
    t = time.perf_counter()
    det = FaceDetector(intra_op_threads=args.threads)
    print(f"load: {1000 * (time.perf_counter() - t):.0f} ms  ({det.version()})")
    det.detect(imgs[0])  # warm-up
    per_image = []
    n_faces = 0
    t_all = time.perf_counter()
    for _ in range(args.repeat):
        for im in imgs:
            t = time.perf_counter()
            n_faces += len(det.detect(im))
            per_image.append(time.perf_counter() - t)
    wall = time.perf_counter() - t_all
    n = len(per_image)
    print(f"{n} detections on {len(imgs)} images of 512x512 ({args.repeat} passes), {n_faces} faces found")
    print(f"throughput: {n / wall:.1f} images/s")
    print(
        f"ms/image: mean {1000 * statistics.mean(per_image):.1f}, "
        f"median {1000 * statistics.median(per_image):.1f}, "
        f"p95 {1000 * sorted(per_image)[int(0.95 * (n - 1))]:.1f}"
    )


if __name__ == "__main__":
    main()
