"""Browser pages of the curation area (included by frontend/urls.py)."""

from django.urls import path

from . import views_curation as v

urlpatterns = [
    path("sources/", v.sources, name="sources"),
    path("sources/<slug:key>/results/", v.source_results, name="source-results"),
    path("releases/", v.releases, name="releases"),
    path("releases/<str:version>/", v.release_detail, name="release-detail"),
    path("releases/<str:version>/compare/<str:other>/", v.release_compare, name="release-compare"),
]
