"""API routes of the modeling app (mounted under /api/modeling/)."""

from django.urls import path

from . import apis

app_name = "modeling"

urlpatterns = [
    path("versions/", apis.ModelVersionListApi.as_view(), name="version-list"),
    path("versions/<int:version_id>/", apis.ModelVersionDetailApi.as_view(), name="version-detail"),
    path(
        "versions/<int:version_id>/activate/", apis.ModelVersionActivateApi.as_view(), name="version-activate"
    ),
    path(
        "versions/<int:version_id>/evaluate/", apis.ModelVersionEvaluateApi.as_view(), name="version-evaluate"
    ),
    path("prescore/", apis.PrescoreStartApi.as_view(), name="prescore"),
    path("predict/", apis.PredictApi.as_view(), name="predict"),
    path("predict/jobs/", apis.PredictJobApi.as_view(), name="predict-job"),
    path("predictions/<str:sha256>/", apis.PredictionDetailApi.as_view(), name="prediction-detail"),
]
