from django.urls import path

from . import urls_curation, urls_modeling, urls_qualification, urls_scoring, views

app_name = "frontend"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:job_id>/resume/", views.job_action, {"action": "resume"}, name="job-resume"),
    path("jobs/<int:job_id>/cancel/", views.job_action, {"action": "cancel"}, name="job-cancel"),
    *urls_qualification.urlpatterns,
    *urls_scoring.urlpatterns,
    *urls_curation.urlpatterns,
    *urls_modeling.urlpatterns,
]
