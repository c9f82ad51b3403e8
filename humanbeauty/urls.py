"""URL layout: ``/api/`` (JSON, token or session auth), ``/api/schema/`` + ``/api/docs/`` (OpenAPI, offline),
``/admin/`` (Django admin), everything else is the browser app in ``frontend``."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from humanbeauty.api import django_error_handlers

api_patterns = [
    path("", include("annotation.urls")),
    path("qualification/", include("annotation.qualification.urls")),
    path("scoring/", include("annotation.scoring.urls")),
    path("curation/", include("curation.urls")),
    path("modeling/", include("modeling.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include(api_patterns)),
    path("", include("frontend.urls")),
]

_handlers = django_error_handlers()  # JSON {message, extra} under /api/, Django's pages elsewhere
handler400, handler403 = _handlers["handler400"], _handlers["handler403"]
handler404, handler500 = _handlers["handler404"], _handlers["handler500"]
