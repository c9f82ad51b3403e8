"""Benchmark: the scoring workspace in a real browser, keyboard only, beside paced raters over HTTP.

Creates a scratch PostgreSQL database (``hb_bench_ws_<pid>``), seeds a pool of real JPEG photographs
(scikit-image's astronaut, cropped differently per image) and certified raters, collects the static files,
starts gunicorn on 127.0.0.1 and runs, for ``--seconds``:

* ``--raters - 1`` simulated raters over HTTP (the page's flow: submit with ``next: true``), each pausing an
  exponential think time (``--think``) before each submit (``bench_scoring.rater_loop``);
* one rater in Debian's chromium (Playwright) on ``/score/``, keyboard only: 12 digits (each sets the chosen
  dimension's level and moves to the next) and Enter, then the same think time.

Reports the keystrokes per image, the seconds from the first key to the next image shown (the typing is
scripted, so this is the page's own overhead, not a person's thinking), and p50/p95 of the time from the
Enter key to the next image decoded and shown (measured in the page: keydown → the new image's ``load``
event), beside the HTTP raters' p50/p95. Client, server and database share the machine.

    .venv/bin/python bench/bench_workspace.py [--raters 18] [--think 5] [--seconds 60] [--pool 400]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scoring import PG, _admin_sql, _free_port, rater_loop, setup_django, start_gunicorn  # noqa: E402

PASSWORD = "bench-workspace-pw-1"
# In the page: Enter's keydown time, and the time the next image finished loading.
PAGE_PROBE = """() => {
  window.__lat = []; let t0 = null;
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter') t0 = performance.now(); }, true);
  document.getElementById('subject').addEventListener('load', () => {
    if (t0 !== null) { window.__lat.push(performance.now() - t0); t0 = null; }
  });
}"""


def photographs(n: int, seed: int = 0) -> list[bytes]:
    from PIL import Image as PILImage
    from skimage import data

    base = PILImage.fromarray(data.astronaut())
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x, y = (int(v) for v in rng.integers(0, 112, size=2))
        crop = base.crop((x, y, x + 400, y + 400)).resize((640, 800))
        crop.paste((i % 256, i // 256 % 256, 255), (0, 0, 8, 8))  # distinct bytes for every image
        buf = io.BytesIO()
        crop.save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def seed(pool: int, n_http: int, media_root: Path) -> list[str]:
    import hashlib

    from rest_framework.authtoken.models import Token

    from annotation.models import Image, User
    from annotation.qualification.contract import volunteer_certify_by_admin
    from annotation.scoring.models import PoolItem
    from annotation.selectors import default_standard

    standard = default_standard()
    images = []
    (media_root / "images").mkdir(parents=True, exist_ok=True)
    for payload in photographs(pool):
        sha = hashlib.sha256(payload).hexdigest()
        (media_root / "images" / f"{sha}.jpg").write_bytes(payload)
        img = Image(
            sha256=sha,
            original_sha256=sha,
            width=640,
            height=800,
            format="JPEG",
            size_bytes=len(payload),
            provenance="collected",
        )
        img.file.name = f"images/{sha}.jpg"
        images.append(img)
    Image.objects.bulk_create(images, ignore_conflicts=True)
    PoolItem.objects.bulk_create([PoolItem(image=img, standard=standard, target=9) for img in images])
    admin = User.objects.create(username="bench-admin", password="!", role="admin")
    users = User.objects.bulk_create(
        [User(username=f"bench{i}", password="!", role="volunteer") for i in range(n_http)]
    )
    tokens = []
    for user in users:
        volunteer_certify_by_admin(user=user, admin=admin, reason="bench")
        tokens.append(Token.objects.create(user=user).key)
    typist = User.objects.create(username="typist", role="volunteer")
    typist.set_password(PASSWORD)
    typist.save()
    volunteer_certify_by_admin(user=typist, admin=admin, reason="bench")
    return tokens


def browser_rater(port: int, seconds: float, think_s: float, out: dict, ready: threading.Event) -> None:
    """Runs in its own thread: signs in and opens the page, sets ``ready`` (the HTTP raters start then),
    and rates for ``seconds``."""
    from playwright.sync_api import sync_playwright

    exe = os.environ.get("HB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    rng = np.random.default_rng(1)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(base_url=f"http://127.0.0.1:{port}", viewport={"width": 1280, "height": 720})
        page.set_default_timeout(30000)
        response = page.goto("/login/")
        if response is None or response.status != 200:
            raise RuntimeError(f"/login/ answered {response and response.status}: {page.content()[:500]}")
        page.fill("input[name=username]", "typist")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=who]")
        page.goto("/score/")
        page.wait_for_selector("#subject[src]")
        page.evaluate(PAGE_PROBE)
        keys_per_image, per_image_s = [], []
        stop_at = time.time() + seconds
        out["stop_at"] = stop_at
        ready.set()
        while time.time() < stop_at:
            time.sleep(max(0.0, min(float(rng.exponential(think_s)), stop_at - time.time())))
            if time.time() >= stop_at:
                break
            current = page.get_attribute("#subject", "data-image")
            t0 = time.perf_counter()
            keys = [str(int(d)) for d in rng.integers(1, 6, size=12)] + ["Enter"]
            for key in keys:
                page.keyboard.press(key)
            page.wait_for_selector(f"#subject:not([data-image='{current}'])")
            while len(page.evaluate("() => window.__lat")) < len(per_image_s) + 1:
                page.wait_for_timeout(5)
            per_image_s.append(time.perf_counter() - t0)
            keys_per_image.append(len(keys))
        out["latencies_ms"] = page.evaluate("() => window.__lat")
        out["keys"] = keys_per_image
        out["seconds"] = per_image_s
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raters", type=int, default=18, help="raters in all (one of them in the browser)")
    ap.add_argument("--think", type=float, default=5.0, help="mean think time before each submit (s)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--pool", type=int, default=400)
    args = ap.parse_args()
    name = f"hb_bench_ws_{os.getpid()}"
    db_url = f"{PG}/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="hb-bench-ws-"))
    os.environ["DJANGO_MEDIA_ROOT"] = str(tmp / "media")
    os.environ["DJANGO_STATIC_ROOT"] = str(tmp / "static")
    # collectstatic must run with the production storage (hashed names + manifest) gunicorn will use.
    os.environ.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only-secret",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
    )
    _admin_sql(f"CREATE DATABASE {name}")
    server = None
    try:
        setup_django(db_url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        tokens = seed(args.pool, args.raters - 1, tmp / "media")
        port = _free_port()
        server = start_gunicorn(db_url, port, workers=3, threads=8)
        out: dict = {}
        ready = threading.Event()
        typist = threading.Thread(target=browser_rater, args=(port, args.seconds, args.think, out, ready))
        typist.start()
        if not ready.wait(timeout=120):
            raise RuntimeError("the browser rater did not get ready")
        http_lat: list[list[float]] = [[] for _ in tokens]
        errors: list[str] = []
        threads = [
            threading.Thread(
                target=rater_loop, args=(port, t, out["stop_at"], http_lat[i], errors, True, args.think)
            )
            for i, t in enumerate(tokens)
        ]
        for t in threads:
            t.start()
        typist.join()
        for t in threads:
            t.join()
        lat = np.array(out["latencies_ms"])
        flat = np.array([x for lst in http_lat for x in lst]) * 1000
        print(
            f"raters: {args.raters} (1 in the browser, {args.raters - 1} over HTTP), think {args.think} s, {args.seconds:.0f} s"
        )
        print(f"browser images rated: {len(out['keys'])}; keystrokes per image: {sorted(set(out['keys']))}")
        print(
            "first key to next image shown (scripted typing): "
            f"p50 {np.median(out['seconds']):.2f} s, max {max(out['seconds']):.2f} s"
        )
        print(
            f"Submit (Enter) to next image shown: p50 {np.quantile(lat, 0.5):.0f} ms, "
            f"p95 {np.quantile(lat, 0.95):.0f} ms (n={lat.size})"
        )
        print(
            f"HTTP raters submit+next: p50 {np.quantile(flat, 0.5):.0f} ms, p95 {np.quantile(flat, 0.95):.0f} ms "
            f"(n={flat.size}), errors {len(errors)} {errors[:1]}"
        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        from django.db import connections

        connections.close_all()
        _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
