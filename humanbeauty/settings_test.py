"""Settings for the test suite: the real settings (same environment variables), plus what tests need.

- Fast password hashing: tests create many users and need no hashing strength.
- A per-process in-memory cache, so the sign-in failure counts of one run never meet another run's
  (the suite clears it between tests; ``tests/conftest.py``).
"""

from __future__ import annotations

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hb-tests"}}
