"""URL layout: ``/api/`` (JSON, token or session auth), ``/api/schema/`` + ``/api/docs/`` (OpenAPI, offline),
``/admin/`` (Django admin), everything else is the browser app in ``frontend``."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from .api import api_aware_handler, api_not_found

api_patterns = [
    path("", include("annotation.urls")),
    path("qualification/", include("annotation.qualification.urls")),
    path("scoring/", include("annotation.scoring.urls")),
    path("curation/", include("curation.urls")),
    path("modeling/", include("modeling.urls")),
    # Last: any other /api/ path (unknown route, malformed id such as /api/jobs/null/, a missing trailing
    # slash) is a JSON 404 (no HTML redirect or page; the message names the slashed path when it exists).
    re_path(r"^.*$", api_not_found),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include(api_patterns)),
    path("", include("frontend.urls")),
]

handler400 = api_aware_handler(400, defaults.bad_request)
handler403 = api_aware_handler(403, defaults.permission_denied)
handler404 = api_aware_handler(404, defaults.page_not_found)
handler500 = api_aware_handler(500, defaults.server_error)
