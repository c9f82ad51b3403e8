from django.urls import path

from . import apis

app_name = "annotation"

urlpatterns = [
    path("auth/token/", apis.TokenObtainApi.as_view(), name="token"),
    path("me/", apis.MeApi.as_view(), name="me"),
    path("standards/", apis.StandardListApi.as_view(), name="standard-list"),
    path("standards/<slug:key>/", apis.StandardDetailApi.as_view(), name="standard-detail"),
    path("images/", apis.ImageListApi.as_view(), name="image-list"),
    path("images/<str:sha256>/", apis.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<str:sha256>/file/", apis.ImageFileApi.as_view(), {"variant": "file"}, name="image-file"),
    path("images/<str:sha256>/thumb/", apis.ImageFileApi.as_view(), {"variant": "thumb"}, name="image-thumb"),
    path("jobs/", apis.JobListApi.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", apis.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", apis.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/resume/", apis.JobResumeApi.as_view(), name="job-resume"),
]
