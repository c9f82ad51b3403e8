"""Shared by the platform benchmarks: a scratch database (PostgreSQL, or SQLite under a temp dir) with the
platform's settings and migrations, and its removal afterwards."""

from __future__ import annotations

import os
from pathlib import Path

PG_BASE = os.environ.get("HB_BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django(work: Path, sqlite: bool, db_name: str) -> None:
    """Point the platform at a fresh scratch database under ``work`` (eager Celery), then migrate."""
    if sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    else:
        _admin(f"DROP DATABASE IF EXISTS {db_name}")
        _admin(f"CREATE DATABASE {db_name}")
        os.environ["DATABASE_URL"] = f"{PG_BASE}/{db_name}"
    os.environ["DJANGO_MEDIA_ROOT"] = str(work / "media")
    os.environ["HB_RELEASES_ROOT"] = str(work / "releases")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humanbeauty.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_pg(db_name: str) -> None:
    from django.db import connections

    connections.close_all()
    _admin(f"DROP DATABASE IF EXISTS {db_name}")
