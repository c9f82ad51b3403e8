"""Browser pages of the modeling area (included by frontend/urls.py)."""

from django.urls import path

from . import views_modeling

urlpatterns = [
    path("models/", views_modeling.models_list, name="models"),
    path("models/score/", views_modeling.models_score, name="models-score"),
    path("models/<int:version_id>/activate/", views_modeling.models_activate, name="models-activate"),
]
