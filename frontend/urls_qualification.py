"""Browser pages of the qualification area (included by frontend/urls.py)."""

from django.urls import path

from . import views_qualification as v

urlpatterns = [
    path("qualification/", v.qualification, name="qualification"),
    path("qualification/exam/", v.qualification_exam, name="qualification-exam"),
    path("qualification/result/<int:attempt_id>/", v.qualification_result, name="qualification-result"),
    path("qualification/join/<str:token>/", v.qualification_join, name="qualification-join"),
    path("qualification/admin/", v.admin_qualification, name="admin-qualification"),
    path("qualification/admin/gold/", v.admin_gold, name="admin-qualification-gold"),
    path("qualification/admin/<int:protocol_id>/", v.admin_protocol, name="admin-qualification-protocol"),
    path(
        "qualification/admin/volunteers/<int:user_id>/",
        v.admin_volunteer,
        name="admin-qualification-volunteer",
    ),
]
