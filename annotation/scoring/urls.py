"""API routes of the scoring app (mounted under /api/scoring/)."""

from django.urls import path

from . import apis, apis_examples, apis_history

app_name = "scoring"

urlpatterns = [
    path("campaigns/", apis.CampaignListApi.as_view(), name="campaign-list"),
    path("campaigns/<int:campaign_id>/", apis.CampaignDetailApi.as_view(), name="campaign-detail"),
    path(
        "campaigns/<int:campaign_id>/submissions/",
        apis.SubmissionCreateApi.as_view(),
        name="submission-create",
    ),
    path("submissions/", apis.SubmissionListApi.as_view(), name="submission-list"),
    path("submissions/<int:submission_id>/", apis.SubmissionDetailApi.as_view(), name="submission-detail"),
    path(
        "submissions/<int:submission_id>/review/",
        apis.SubmissionReviewApi.as_view(),
        name="submission-review",
    ),
    path(
        "submissions/<int:submission_id>/review/undo/",
        apis.SubmissionReviewUndoApi.as_view(),
        name="submission-review-undo",
    ),
    path("next/", apis.NextImageApi.as_view(), name="next"),
    path("lease/heartbeat/", apis.LeaseHeartbeatApi.as_view(), name="lease-heartbeat"),
    path("lease/skip/", apis.LeaseSkipApi.as_view(), name="lease-skip"),
    path("ratings/", apis.RatingSubmitApi.as_view(), name="rating-submit"),
    path("session/", apis.SessionProgressApi.as_view(), name="session"),
    path("ratings/mine/", apis_history.RatingHistoryApi.as_view(), name="rating-history"),
    path("ratings/<int:rating_id>/", apis_history.RatingAmendApi.as_view(), name="rating-amend"),
    path("progress/", apis.ProgressApi.as_view(), name="progress"),
    path("images/<str:sha256>/aggregate/", apis.ImageAggregateApi.as_view(), name="image-aggregate"),
    path("reaggregate/", apis.ReaggregateApi.as_view(), name="reaggregate"),
    path("rater-quality/", apis.RaterQualityApi.as_view(), name="rater-quality"),
    path("reports/latest/", apis.ReportLatestApi.as_view(), name="report-latest"),
    path("examples/", apis_examples.LevelExampleListApi.as_view(), name="level-example-list"),
    path(
        "examples/suggestions/",
        apis_examples.LevelExampleSuggestionsApi.as_view(),
        name="level-example-suggestions",
    ),
    path(
        "examples/<int:example_id>/",
        apis_examples.LevelExampleDetailApi.as_view(),
        name="level-example-detail",
    ),
]
