"""API routes of the qualification app (mounted under /api/qualification/)."""

from django.urls import path

from . import apis

app_name = "qualification"

urlpatterns = [
    # volunteer
    path("me/", apis.MyStatusApi.as_view(), name="me"),
    path("me/training/start/", apis.TrainingStartApi.as_view(), name="training-start"),
    path("me/training/next/", apis.TrainingNextApi.as_view(), name="training-next"),
    path("me/training/<int:answer_id>/answer/", apis.TrainingAnswerApi.as_view(), name="training-answer"),
    path("me/exam/start/", apis.ExamStartApi.as_view(), name="exam-start"),
    path("me/exam/<int:attempt_id>/", apis.ExamDetailApi.as_view(), name="exam-detail"),
    path("me/exam/<int:attempt_id>/answer/", apis.ExamAnswerApi.as_view(), name="exam-answer"),
    path("me/exam/<int:attempt_id>/submit/", apis.ExamSubmitApi.as_view(), name="exam-submit"),
    # anyone with the link
    path("join/<str:token>/", apis.InvitationDetailApi.as_view(), name="join"),
    # admin
    path("protocols/", apis.ProtocolListApi.as_view(), name="protocols"),
    path("protocols/<int:protocol_id>/", apis.ProtocolDetailApi.as_view(), name="protocol"),
    path("protocols/<int:protocol_id>/rounds/", apis.RoundOpenApi.as_view(), name="round-open"),
    path("rounds/<int:round_id>/close/", apis.RoundCloseApi.as_view(), name="round-close"),
    path("protocols/<int:protocol_id>/invitations/", apis.InvitationListApi.as_view(), name="invitations"),
    path("protocols/<int:protocol_id>/funnel/", apis.FunnelApi.as_view(), name="funnel"),
    path("protocols/<int:protocol_id>/export.csv", apis.FunnelExportApi.as_view(), name="export"),
    path("volunteers/<int:user_id>/", apis.VolunteerDetailApi.as_view(), name="volunteer"),
    path("volunteers/<int:user_id>/certify/", apis.VolunteerCertifyApi.as_view(), name="volunteer-certify"),
    path("volunteers/<int:user_id>/exit/", apis.VolunteerExitApi.as_view(), name="volunteer-exit"),
    path("gold/", apis.GoldListApi.as_view(), name="gold"),
    path("gold/import/", apis.GoldImportApi.as_view(), name="gold-import"),
]
