import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humanbeauty.settings")
application = get_wsgi_application()
# Import every view module now (at worker boot, or once in the master with ``--preload``) rather than on
# the first request: otherwise the first requests a fresh worker serves wait ~1.5 s, several seconds when
# all workers start at once.
get_resolver().url_patterns  # noqa: B018
