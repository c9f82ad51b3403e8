"""Settings: every HB_* knob the code reads is declared in settings and read from the environment; the
compose deployment puts gunicorn behind the body-limiting proxy and trusts its headers only there;
PostgreSQL connections persist and the queue's statements are really prepared."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("humanbeauty", "annotation", "curation", "modeling", "frontend")
# Read by tests, CI and benchmarks only (never by the application).
NOT_SETTINGS = {"HB_TEST_REDIS_URL", "HB_REQUIRE_BROWSER", "HB_CHROMIUM", "HB_BENCH_PG"}


def _knobs_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts or path.name.startswith("settings"):
                continue
            names |= set(re.findall(r"\b(HB_[A-Z0-9_]+)\b", path.read_text()))
    return names - NOT_SETTINGS


def test_every_knob_the_code_reads_is_declared_from_the_environment() -> None:
    source = (ROOT / "humanbeauty" / "settings.py").read_text()
    knobs = _knobs_read_by_the_code()
    assert {"HB_SCORING_LEASE_TTL_S", "HB_COLLECTION_MIN_SHORT_SIDE", "HB_IMAGE_MAX_BYTES"} <= knobs
    undeclared = sorted(k for k in knobs if not re.search(rf'^{k} = env\.\w+\("{k}"', source, re.M))
    assert undeclared == []


def test_environment_overrides_reach_the_scoring_config() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "humanbeauty.settings",
        "HB_SCORING_LEASE_TTL_S": "123",
        "HB_SCORING_CANDIDATES": "7",
        "HB_COLLECTION_MIN_SHORT_SIDE": "99",
        "HB_COLLECTION_DOMINANCE_RATIO": "3.5",
    }
    code = (
        "import django; django.setup()\n"
        "from annotation.scoring import config as c\n"
        "print(c.lease_ttl_s(), c.candidate_pool_size(), c.min_short_side_px(), c.dominance_ratio())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["123", "7", "99", "3.5"]


def test_tests_run_on_the_test_settings_module() -> None:
    from django.conf import settings

    assert os.environ["DJANGO_SETTINGS_MODULE"] == "humanbeauty.settings_test"
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")


def test_compose_publishes_only_the_proxy_and_trusts_it() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    published = sorted(name for name, svc in services.items() if svc.get("ports"))
    assert "web" not in published and "proxy" in published
    assert spec["x-django"]["environment"]["HB_BEHIND_PROXY"] == "true"
    assert any("nginx.conf" in v for v in services["proxy"]["volumes"])
    command = services["web"]["command"]
    assert "--limit-request-line" in command and "--limit-request-field_size" in command
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"^\s*client_max_body_size 100m;", conf, re.M)  # = HB_REQUEST_MAX_BYTES default
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    from django.conf import settings

    assert settings.HB_REQUEST_MAX_BYTES == 100 * 1024 * 1024


@pytest.mark.django_db
def test_postgres_connections_persist_and_queue_statements_are_prepared() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("this test needs DATABASE_URL pointing at PostgreSQL (as make test and CI set)")
    from humanbeauty.db import prepared_cursor

    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    statement = "SELECT %s::int + 1"
    with prepared_cursor() as cur:
        cur.execute(statement, [41])
        assert cur.fetchone() == (42,)
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cur.fetchall()]
    assert any("$1::int + 1" in s for s in prepared), prepared
