"""OpenAPI schema generates without warnings; `check --deploy` is clean with production values; the
docs page works offline (no CDN)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_schema_generates_without_warnings(tmp_path) -> None:
    out = tmp_path / "schema.yml"
    proc = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--fail-on-warn", "--validate", "--file", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "/api/jobs/{job_id}/" in out.read_text()


def test_check_deploy_has_no_errors_or_warnings() -> None:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
        "DJANGO_ALLOWED_HOSTS": "humanbeauty.example.org",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:////tmp/hb-deploy-check.sqlite3"),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests' live server, never in deployment
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


@pytest.mark.django_db
def test_docs_page_uses_no_cdn(client) -> None:
    html = client.get("/api/docs/").content.decode()
    assert "swagger" in html.lower()
    external = [
        u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if u.startswith(("http://", "https://", "//"))
    ]
    assert external == []


def _compose_environment(service: str) -> dict[str, str]:
    """The environment docker-compose would give ``service`` (``${VAR:-default}``/``${VAR:?msg}`` resolved
    with the defaults, a secret key supplied), read straight from docker-compose.yml."""
    import yaml

    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    raw = spec["services"][service]["environment"]
    given = {"DJANGO_SECRET_KEY": "compose-" + "k" * 60}

    def resolve(value: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name, op, default = m.group(1), m.group(2), m.group(3) or ""
            if name in given:
                return given[name]
            if op == ":?":
                raise AssertionError(f"{name} is mandatory: {default}")
            return default

        return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", sub, str(value))

    return {k: resolve(v) for k, v in raw.items()}


def test_compose_web_environment_passes_check_deploy() -> None:
    env = {**os.environ, **_compose_environment("web")}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env["DATABASE_URL"] = env["DATABASE_URL"].replace(
        "@postgres:", "@127.0.0.1:"
    )  # no DB access during checks
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from django.conf import settings as live  # the test process itself is the embedded default

    assert live.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django,os;os.environ['DJANGO_SETTINGS_MODULE']='humanbeauty.settings';"
            "django.setup();from django.conf import settings as s;"
            "print(s.STORAGES['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER, s.DEBUG)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert probe.stdout.split() == ["storages.backends.s3.S3Storage", "False", "False"]
