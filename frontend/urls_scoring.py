"""Browser pages of the scoring area (included by frontend/urls.py)."""

from django.urls import path

from . import views_campaigns, views_examples, views_scoring

urlpatterns: list = [
    path("collect/", views_scoring.collect, name="collect"),
    path("score/", views_scoring.score, name="score"),
    path("review/", views_scoring.review, name="review"),
    path("campaigns/", views_campaigns.campaigns, name="campaigns"),
    path("campaigns/<int:campaign_id>/", views_campaigns.campaign_edit, name="campaign-edit"),
    path("scoring/progress/", views_scoring.scoring_progress, name="scoring-progress"),
    path("scoring/raters/", views_scoring.rater_quality, name="rater-quality"),
    path("scoring/examples/", views_examples.level_examples, name="level-examples"),
]
