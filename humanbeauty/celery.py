"""Celery application.

Queues per workload so workers can be added where the work is: ``default`` (small bookkeeping),
``cpu`` (face filtering, collection checks, exports, aggregation) and ``gpu`` (model training and
pre-scoring). Routing is by task-name prefix, see ``CELERY_TASK_ROUTES`` in settings.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humanbeauty.settings")

app = Celery("humanbeauty")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
