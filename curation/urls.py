"""API routes of the curation app (mounted under /api/curation/)."""

from django.urls import path

from . import apis

app_name = "curation"

urlpatterns = [
    path("sources/", apis.SourceListApi.as_view(), name="source-list"),
    path("sources/<slug:key>/", apis.SourceDetailApi.as_view(), name="source-detail"),
    path("sources/<slug:key>/import/", apis.SourceImportApi.as_view(), name="source-import"),
    path("sources/<slug:key>/filter/", apis.SourceFilterApi.as_view(), name="source-filter"),
    path("releases/", apis.ReleaseListApi.as_view(), name="release-list"),
    path("releases/preview/", apis.ReleasePreviewApi.as_view(), name="release-preview"),
    path("releases/<str:version>/", apis.ReleaseDetailApi.as_view(), name="release-detail"),
    path("releases/<str:version>/card/", apis.ReleaseCardApi.as_view(), name="release-card"),
    path(
        "releases/<str:version>/compare/<str:other>/",
        apis.ReleaseCompareApi.as_view(),
        name="release-compare",
    ),
    path("releases/<str:version>/archive/", apis.ReleaseArchiveApi.as_view(), name="release-archive"),
    path("releases/<str:version>/files/<path:path>", apis.ReleaseFileApi.as_view(), name="release-file"),
]
