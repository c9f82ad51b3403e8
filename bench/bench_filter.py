"""Benchmark: the platform's RetinaFace filter job per worker against the bare detector, same images.

Images: the ``bench_detector.py`` set (astronaut, camera, grace_hopper + LFW faces/non-faces, 512x512),
saved as JPEG files in a SCUT-FBP5500 folder, ``--copies`` distinct copies of each (a unique trailer after
the JPEG EOI marker gives each copy its own sha256; pixels are identical). The folder is registered and
imported into a scratch database (PostgreSQL ``hb_bench_filter``, created and dropped here, or SQLite with
``--sqlite``); none of that is timed.

Timed, one process, one detector thread (= one Celery worker with ``-c 1``):

* bare ``FaceDetector.detect`` on pre-decoded arrays (as ``bench_detector.py``);
* bare ``FaceDetector.detect_path`` on the same files (file read + JPEG decode + detect);
* the platform job: ``filter_start`` → ``curation.filter_run`` → ``curation.filter_chunk`` × n (eager Celery,
  no broker): pending query, file open through storage, detect, verdict, one bulk insert per chunk,
  counted progress, then ``filter_finish`` (verdict refresh + per-source normalisation).

    .venv/bin/python bench/bench_filter.py [--copies 5] [--lfw 20] [--chunk 64] [--rounds 3] [--sqlite]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _scratch import drop_pg, setup_django  # noqa: E402

DB_NAME = "hb_bench_filter"


def write_folder(root: Path, n_lfw: int, copies: int) -> list[Path]:
    from bench_detector import image_set
    from PIL import Image

    (root / "Images").mkdir(parents=True)
    (root / "train_test_files").mkdir()
    paths, lines = [], []
    for k, arr in enumerate(image_set(n_lfw)):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=90)
        data = buf.getvalue()
        for c in range(copies):
            p = root / "Images" / f"img{k:03d}_{c}.jpg"
            p.write_bytes(data + c.to_bytes(8, "big"))
            paths.append(p)
            lines.append(f"{p.name} {1 + (k * 7 + c) % 40 / 10}")
    (root / "train_test_files" / "All_labels.txt").write_text("\n".join(lines) + "\n")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--lfw", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sqlite", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_filter_"))
    work.mkdir(parents=True, exist_ok=True)
    setup_django(work, args.sqlite, DB_NAME)
    from django.db import connection
    from PIL import Image

    from annotation.models import Job
    from curation.faces import FaceDetector
    from curation.models import FaceDetection
    from curation.services.filtering import detector_get, filter_params, filter_start
    from curation.services.sources import source_import, source_register

    t = time.perf_counter()
    paths = write_folder(work / "scut", args.lfw, args.copies)
    source = source_register(key="scut_fbp5500", importer="scut_fbp5500", root=str(work / "scut"))
    imported = source_import(source=source)
    n = imported["created"]
    print(f"setup: {n} images ({len(paths) // args.copies} distinct pictures x {args.copies}) imported into "
          f"{connection.vendor} in {time.perf_counter() - t:.1f}s (not timed)")  # fmt: skip

    # bare detector, one thread, after a warm-up; the platform detector is loaded + warmed before timing
    # (a worker keeps it loaded). The three measurements are interleaved --rounds times and the best of
    # each is kept, so load from other processes on the box hits all three alike.
    bare = FaceDetector(intra_op_threads=1)
    arrays = []
    for p in paths:
        with Image.open(p) as im:
            arrays.append(im.convert("RGB"))
    bare.detect(arrays[0])
    params = filter_params()
    detector_get(confidence=params["confidence"], nms=params["nms"], max_size=params["max_size"]).detect(
        arrays[0]
    )
    times: dict[str, list[float]] = {"arrays": [], "files": [], "platform": []}
    cpu: dict[str, list[float]] = {"arrays": [], "files": [], "platform": []}
    for _ in range(args.rounds):
        t, c = time.perf_counter(), time.process_time()
        for im in arrays:
            bare.detect(im)
        times["arrays"].append(time.perf_counter() - t)
        cpu["arrays"].append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        for p in paths:
            bare.detect_path(p)
        times["files"].append(time.perf_counter() - t)
        cpu["files"].append(time.process_time() - c)
        FaceDetection.objects.all().delete()
        t, c = time.perf_counter(), time.process_time()
        job = filter_start(source_keys=["scut_fbp5500"], chunk_size=args.chunk)
        times["platform"].append(time.perf_counter() - t)
        cpu["platform"].append(time.process_time() - c)
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert FaceDetection.objects.count() == n
    bare_arrays, bare_files, platform = (min(times[k]) for k in ("arrays", "files", "platform"))
    r = job.result

    def rate(s: float) -> str:
        return f"{n / s:7.1f} images/s ({1000 * s / n:5.1f} ms/image)"

    print(f"bare detect (decoded arrays):     {rate(bare_arrays)}")
    print(f"bare detect_path (read+decode):   {rate(bare_files)}")
    print(f"platform filter job, 1 worker:    {rate(platform)}  chunks of {args.chunk}; kept {r['kept']}, "
          f"rejected {r['rejected']}, unreadable {r['errors']}")  # fmt: skip
    print(f"platform overhead vs bare detect_path: {100 * (platform / bare_files - 1):+.1f}%  (target < 20%)")
    print(f"platform overhead vs bare detect:      {100 * (platform / bare_arrays - 1):+.1f}%")
    paired = sorted(p / f for p, f in zip(times["platform"], times["files"], strict=True))
    print(f"median of per-round ratios platform/detect_path: {100 * (paired[len(paired) // 2] - 1):+.1f}%")
    cpu_files, cpu_platform = min(cpu["files"]), min(cpu["platform"])
    print(
        f"process CPU (excludes the DB server's own time): bare detect_path {1000 * cpu_files / n:.1f} ms/image, "
        f"platform {1000 * cpu_platform / n:.1f} ms/image, overhead {100 * (cpu_platform / cpu_files - 1):+.1f}%"
    )
    print(
        "all rounds, wall (s): "
        + "; ".join(f"{k} " + ", ".join(f"{v:.2f}" for v in vs) for k, vs in times.items())
    )
    if not args.sqlite:
        drop_pg(DB_NAME)
    if args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
