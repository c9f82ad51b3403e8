"""Settings for every way the platform runs, read from the environment (django-environ).

- Embedded default (nothing configured): SQLite under ``var/``, media on the filesystem, Celery eager,
  DEBUG on. One command (``make demo``) shows the whole platform working.
- Real deployment (``docker-compose.yml``): ``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL`` (Redis),
  ``DJANGO_DEBUG=false``, a real ``DJANGO_SECRET_KEY`` and ``DJANGO_ALLOWED_HOSTS``; media on
  S3-compatible storage when ``S3_BUCKET`` is set, so several web and worker hosts share it.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
_DEV_SECRET = "django-insecure-embedded-default-only-never-use-in-production"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotation",
    "annotation.qualification",
    "annotation.scoring",
    "curation",
    "modeling",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "humanbeauty.security.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "frontend.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "humanbeauty.urls"
WSGI_APPLICATION = "humanbeauty.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
# Persistent connections by default on PostgreSQL (a new connection per request costs more than most
# requests); a health check at the start of each request replaces a connection the server dropped.
DATABASES["default"].setdefault(
    "CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60 if _IS_POSTGRES else 0)
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DJANGO_CONN_HEALTH_CHECKS", default=True)
if _IS_POSTGRES:
    # psycopg prepares nothing while prepare_threshold is None (Django's default), so ``prepare=True`` in
    # humanbeauty/db.py would be ignored. Django's own cursors bind on the client and never prepare.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "prepare_threshold", env.int("HB_DB_PREPARE_THRESHOLD", default=5)
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL + a busy timeout let the embedded default serve a few concurrent raters without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "annotation.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:dashboard"
LOGOUT_REDIRECT_URL = "frontend:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
MEDIA_URL = env.str("DJANGO_MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))
# Releases are large, immutable directories on a local (or network) filesystem shared by workers.
RELEASES_ROOT = env.path("HB_RELEASES_ROOT", default=str(VAR_DIR / "releases"))
MODELS_ROOT = env.path("HB_MODELS_ROOT", default=str(VAR_DIR / "models"))

S3_BUCKET = env.str("S3_BUCKET", default="")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
            "access_key": env.str("S3_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default=None),
            "region_name": env.str("S3_REGION", default=None),
            "addressing_style": "path",
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Upload safety ---------------------------------------------------------------------------------------
# The standard the platform uses when none is named (queue, ratings, pages, qualification, releases): the only
# place outside migrations, the standards' own specs and tests where its key is written.
HB_DEFAULT_STANDARD = env.str("HB_DEFAULT_STANDARD", default="humanbeauty-v1")
HB_IMAGE_MAX_BYTES = env.int("HB_IMAGE_MAX_BYTES", default=20 * 1024 * 1024)
HB_IMAGE_MAX_PIXELS = env.int("HB_IMAGE_MAX_PIXELS", default=40_000_000)
# Uploads to the image store above this many (header-declared) pixels are decoded on a worker (202 + job).
HB_IMAGE_SYNC_MAX_PIXELS = env.int("HB_IMAGE_SYNC_MAX_PIXELS", default=4_000_000)
HB_IMAGE_FORMATS = env.list("HB_IMAGE_FORMATS", default=["JPEG", "PNG", "WEBP"])
HB_THUMBNAIL_SIZE = env.int("HB_THUMBNAIL_SIZE", default=320)
# Request bodies: the whole body (HB_REQUEST_MAX_BYTES; a gold import carries a batch of images) and, without
# credentials, HB_ANONYMOUS_REQUEST_MAX_BYTES (sign-in forms). Refused from Content-Length before reading
# (humanbeauty/security.py); the compose proxy and gunicorn enforce their own limits in front.
HB_REQUEST_MAX_BYTES = env.int("HB_REQUEST_MAX_BYTES", default=100 * 1024 * 1024)
HB_ANONYMOUS_REQUEST_MAX_BYTES = env.int("HB_ANONYMOUS_REQUEST_MAX_BYTES", default=64 * 1024)
# Non-file form fields in memory, and the number of fields/files one request may carry.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DJANGO_DATA_UPLOAD_MAX_NUMBER_FILES", default=500)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Abuse: password guessing (humanbeauty/security.py) ------------------------------------------------------
HB_LOGIN_WINDOW_SECONDS = env.int("HB_LOGIN_WINDOW_SECONDS", default=15 * 60)
HB_LOGIN_MAX_FAILURES_PER_ACCOUNT = env.int("HB_LOGIN_MAX_FAILURES_PER_ACCOUNT", default=10)
HB_LOGIN_MAX_FAILURES_PER_CLIENT = env.int("HB_LOGIN_MAX_FAILURES_PER_CLIENT", default=50)
# The failure counts live in the cache: Redis in deployment so that every web process shares them.
CACHES = {"default": env.cache_url("DJANGO_CACHE_URL", default="locmemcache://")}

# --- Scoring, collection and modeling knobs (annotation/scoring/config.py, services) ----------------------
HB_SCORING_LEASE_TTL_S = env.int("HB_SCORING_LEASE_TTL_S", default=300)
HB_SCORING_CANDIDATES = env.int("HB_SCORING_CANDIDATES", default=50)
HB_SCORING_RATINGS_TARGET = env.int("HB_SCORING_RATINGS_TARGET", default=9)
HB_SCORING_RATINGS_STEP = env.int("HB_SCORING_RATINGS_STEP", default=3)
HB_SCORING_RATINGS_CAP = env.int("HB_SCORING_RATINGS_CAP", default=15)
HB_SCORING_MAX_CI_HALF_WIDTH = env.float("HB_SCORING_MAX_CI_HALF_WIDTH", default=0.15)
# Hidden-gold skipping rule (annotation/gold_skipping.py): a JSON object of SkipRule fields to override.
HB_GOLD_SKIP_RULE = env.json("HB_GOLD_SKIP_RULE", default={})
# Hidden-gold follow-up of rater screening: a flagged rater's gold share is multiplied by this (capped at 0.5).
HB_GOLD_FOLLOW_UP_FACTOR = env.float("HB_GOLD_FOLLOW_UP_FACTOR", default=4.0)
# The workspace: the rater's session goal, and how long a rater may amend their own rating.
HB_SCORING_SESSION_GOAL = env.int("HB_SCORING_SESSION_GOAL", default=20)
HB_SCORING_AMEND_WINDOW_S = env.int("HB_SCORING_AMEND_WINDOW_S", default=600)
# How long an admin may undo a review decision (while nothing depends on it yet).
HB_REVIEW_UNDO_WINDOW_S = env.int("HB_REVIEW_UNDO_WINDOW_S", default=600)
HB_COLLECTION_MIN_SHORT_SIDE = env.int("HB_COLLECTION_MIN_SHORT_SIDE", default=256)
HB_COLLECTION_PHASH_MAX_DISTANCE = env.int("HB_COLLECTION_PHASH_MAX_DISTANCE", default=6)
HB_COLLECTION_DOMINANCE_RATIO = env.float("HB_COLLECTION_DOMINANCE_RATIO", default=2.0)
HB_COLLECTION_HEAD_ONLY_MAX_AREA = env.float("HB_COLLECTION_HEAD_ONLY_MAX_AREA", default=0.25)
HB_MODELING_BATCH_SIZE = env.int("HB_MODELING_BATCH_SIZE", default=8)
HB_MODELING_DEVICE = env.str("HB_MODELING_DEVICE", default="") or None
# Synchronous predict (the web process decodes and scores): larger images go to the queued predict.
HB_PREDICT_SYNC_MAX_PIXELS = env.int("HB_PREDICT_SYNC_MAX_PIXELS", default=4_000_000)

# --- REST API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: anonymous API calls get 401 with a WWW-Authenticate header.
        "humanbeauty.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "humanbeauty.api.AutoSchema",
    "EXCEPTION_HANDLER": "humanbeauty.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HumanBeauty platform API",
    "DESCRIPTION": "Qualification, collection, scoring, curation and modeling for Human Image Aesthetic "
    "Assessment. Errors always have the shape {message, extra}.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}

# --- Celery ----------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Without a broker the embedded default runs every task eagerly, in-process.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "curation.*": {"queue": "cpu"},
    "collection.*": {"queue": "cpu"},
    "scoring.*": {"queue": "cpu"},
    "modeling.*": {"queue": "gpu"},
}
# Surviving a dead worker (annotation/services/jobs.py has the design note). Chunk tasks are short and
# idempotent: acknowledged only when done and rejected back to the queue when their process dies. If the
# whole worker tree is killed, Redis hands unacknowledged messages back after the visibility timeout, which
# is sized to the longest chunk (minutes, not the hours of a training run); long single-message bodies
# (training, release builds) acknowledge on receipt and are taken over by the watchdog from their heartbeat
# and their last checkpoint instead.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
HB_CHUNK_TIME_LIMIT = env.int("HB_CHUNK_TIME_LIMIT", default=10 * 60)  # hard limit of one chunk task
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("HB_CELERY_VISIBILITY_TIMEOUT", default=HB_CHUNK_TIME_LIMIT + 5 * 60)
}
HB_JOB_HEARTBEAT_SECONDS = env.float("HB_JOB_HEARTBEAT_SECONDS", default=30.0)
HB_JOB_STALE_AFTER = env.float("HB_JOB_STALE_AFTER", default=300.0)  # no heartbeat for this long: lost
HB_JOB_MAX_REDISPATCH = env.int("HB_JOB_MAX_REDISPATCH", default=3)
HB_JOB_WATCHDOG_INTERVAL = env.float("HB_JOB_WATCHDOG_INTERVAL", default=60.0)
HB_TRAIN_CHECKPOINT_EVERY = env.int("HB_TRAIN_CHECKPOINT_EVERY", default=50)  # optimiser steps
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Resume running jobs whose worker died (no heartbeat), fail those whose work is gone.
    "jobs-watchdog": {"task": "annotation.jobs_watchdog", "schedule": HB_JOB_WATCHDOG_INTERVAL},
    # Periodic re-certification: opens due re-certification rounds and suspends drifting raters.
    "qualification-recertification": {"task": "qualification.recertification_tick", "schedule": 3600.0},
    # Delete leases that expired more than an hour ago (they stopped counting when they expired).
    "scoring-leases-purge": {"task": "scoring.leases_purge_expired", "schedule": 900.0},
    # Score hidden-gold answers and apply the gold-skip rule (off the request path: next_image.md).
    "scoring-hidden-gold-monitor": {"task": "scoring.hidden_gold_monitor", "schedule": 60.0},
    # Pre-score newly approved images with the active model version.
    "modeling-prescore-pending": {"task": "modeling.prescore_pending", "schedule": 300.0},
}

# --- Security (production values come from the environment) ---------------------------------------------
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# Trust X-Forwarded-Proto (and the last X-Forwarded-For hop, for throttling) only behind the compose
# reverse proxy, which overwrites them; a directly exposed server would let any client claim HTTPS.
HB_BEHIND_PROXY = env.bool("HB_BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HB_BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
