"""CI's demo path: after ``migrate`` + ``load_demo`` on a fresh SQLite database (the README's first
command, run in a temporary directory), sign in as each user of the README's tour and open each page.
Exits non-zero, naming the page, if any page is not a 200 with HTML.

Run with the same environment as the demo commands: ``.venv/bin/python .ci/demo_tour.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humanbeauty.settings")

import django

django.setup()

# (user, page) for every row of README's "A tour of the demo", plus the jobs page and the dashboard.
TOUR = [
    ("admin", "/qualification/admin/"),
    ("volunteer9", "/qualification/"),
    ("volunteer10", "/qualification/"),
    ("volunteer12", "/qualification/"),
    ("volunteer1", "/collect/"),
    ("admin", "/review/"),
    ("volunteer1", "/score/"),
    ("admin", "/scoring/progress/"),
    ("admin", "/scoring/raters/"),
    ("admin", "/sources/"),
    ("researcher", "/releases/"),
    ("researcher", "/releases/1.0.0/"),
    ("researcher", "/releases/1.0.0-artimuse/"),
    ("admin", "/models/"),
    ("researcher", "/models/score/"),
    ("researcher", "/jobs/"),
    ("admin", "/"),
]


def main() -> int:
    from django.test import Client

    from annotation.models import User

    failures = []
    for username, path in TOUR:
        client = Client()
        client.force_login(User.objects.get(username=username))
        response = client.get(path)
        kind = response.get("Content-Type", "")
        ok = response.status_code == 200 and kind.startswith("text/html")
        print(f"{'ok ' if ok else 'BAD'} {response.status_code} {username:<12} {path}")
        if not ok:
            failures.append(path)
    login = Client().post("/login/", {"username": "researcher", "password": "humanbeauty-demo"})
    print(
        f"{'ok ' if login.status_code == 302 else 'BAD'} {login.status_code} sign-in with the demo password"
    )
    if login.status_code != 302:
        failures.append("/login/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
