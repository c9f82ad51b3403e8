"""The default standard is reached through one setting and one selector, never a written-out key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from annotation.selectors import default_standard, default_standard_key

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("annotation", "curation", "modeling", "frontend", "humanbeauty", "bench", ".ci")
LITERAL = re.compile(r"humanbeauty-v1")
# The setting that declares the default, and the standard's own spec (its definition: seed data).
ALLOWED = {"humanbeauty/settings.py", "annotation/standards/humanbeauty.py"}


def test_the_default_standard_key_is_written_only_in_the_setting_and_the_spec() -> None:
    offenders = []
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".html", ".js", ".txt"} or "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if LITERAL.search(line):
                    offenders.append(f"{rel}:{n}")
    assert offenders == []
    # The scan sees what it must: the allowed files really hold the key.
    assert all(LITERAL.search((ROOT / rel).read_text()) for rel in ALLOWED)


@pytest.mark.django_db
def test_default_standard_follows_the_setting(settings) -> None:
    assert default_standard().key == default_standard_key() == settings.HB_DEFAULT_STANDARD
    from annotation.models import Standard

    Standard.objects.create(key="other-std", name="Other")
    settings.HB_DEFAULT_STANDARD = "other-std"
    assert default_standard().key == "other-std"
