"""URL layout: ``/api/`` (JSON, token or session auth), ``/api/schema/`` + ``/api/docs/`` (OpenAPI, offline),
``/admin/`` (Django admin), everything else is the browser app in ``frontend``."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

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
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include(api_patterns)),
    path("", include("frontend.urls")),
]
