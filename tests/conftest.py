"""Shared fixtures: users of every role, API clients, a media root per test, image bytes."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from PIL import Image as PILImage

# The one place the Hypothesis profiles are registered (test modules must not re-register them on import).
# Derandomized: a failure found in CI reproduces on the next run and on a laptop.
_SLOW_OK = [HealthCheck.too_slow]
hypothesis_settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, suppress_health_check=_SLOW_OK
)
hypothesis_settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=_SLOW_OK)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROLES = ("volunteer", "admin", "researcher")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    # Sign-in failure counts (humanbeauty.security) must not leak from one test into the next.
    from django.core.cache import cache

    cache.clear()
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RELEASES_ROOT = str(tmp_path / "releases")
    settings.MODELS_ROOT = str(tmp_path / "models")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from humanbeauty.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _seeded_standard(request):
    """Re-seed the HumanBeauty standard for database tests: a ``transaction=True`` test flushes every
    table at teardown, data-migration rows included, and later tests must still find the standard."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    import importlib

    from django.apps import apps

    importlib.import_module("annotation.migrations.0002_seed_humanbeauty_standard").seed(apps, None)


@pytest.fixture
def make_user(db):
    from .factories import UserFactory

    counter = {"n": 0}

    def make(role: str = "volunteer", username: str | None = None, **extra: object):
        counter["n"] += 1
        return UserFactory(username=username or f"{role}{counter['n']}", role=role, **extra)

    return make


@pytest.fixture
def volunteer(make_user):
    return make_user("volunteer", username="vol")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", username="adm")


@pytest.fixture
def researcher(make_user):
    return make_user("researcher", username="res")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for(make_user):
    """``client_for("admin")`` → an APIClient authenticated by token as a fresh user of that role."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(role: str | None, user=None) -> APIClient:
        client = APIClient()
        if role is None and user is None:
            return client
        user = user or make_user(role)
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.user = user
        return client

    return make


def jpeg_bytes(width: int = 64, height: int = 48, seed: int = 0, quality: int = 90) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(width: int = 32, height: int = 32, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
