"""Qualification API routes (annotation/qualification/urls.py). Fresh volunteers are not enrolled: their
own-status writes answer 404 ("not enrolled"), which proves the permission let them through."""

from __future__ import annotations

from typing import Any

from .base import ADM, ANON, RES, VOL, Route, allowed

P = "api/qualification/"


def build_context(ctx: dict[str, Any], make_user: Any) -> None:
    from annotation.models import Standard, User
    from annotation.qualification.services.protocols import (
        enrollment_invite_user,
        invitation_create_bulk,
        protocol_create,
        round_open,
    )

    protocol = protocol_create(standard=Standard.objects.get(key="humanbeauty-v1"), name="Matrix protocol")
    ctx["protocol"] = protocol
    ctx["round"] = round_open(protocol=protocol)
    ctx["enrolled"] = User.objects.create(username="matrix-enrolled", role="volunteer")  # no password hashing
    enrollment_invite_user(user=ctx["enrolled"], protocol=protocol)
    ctx["invitation"] = invitation_create_bulk(protocol=protocol, people=[{"email": "m@example.org"}])[0]


def _protocol(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"protocol_id": ctx["protocol"].pk}


MATRIX: list[Route] = [
    Route(P + "me/", "GET", allowed(VOL)),
    Route(P + "me/training/start/", "POST", allowed(VOL, ok={404})),
    Route(P + "me/training/next/", "POST", allowed(VOL, ok={404})),
    Route(P + "me/training/<int:answer_id>/answer/", "POST", allowed(VOL, ok={400, 404}),
          kwargs=lambda ctx: {"answer_id": 1}, data={"scores": {}}),
    Route(P + "me/exam/start/", "POST", allowed(VOL, ok={404})),
    Route(P + "me/exam/<int:attempt_id>/", "GET", allowed(VOL, ok={404}), kwargs=lambda ctx: {"attempt_id": 1}),
    Route(P + "me/exam/<int:attempt_id>/answer/", "POST", allowed(VOL, ok={400, 404}),
          kwargs=lambda ctx: {"attempt_id": 1}, data={"position": 0, "scores": {}}),
    Route(P + "me/exam/<int:attempt_id>/submit/", "POST", allowed(VOL, ok={404}), kwargs=lambda ctx: {"attempt_id": 1}),
    # The invitation link works without an account (and ignores any credentials).
    Route(P + "join/<str:token>/", "GET", {ANON: 200, VOL: 200, ADM: 200, RES: 200},
          kwargs=lambda ctx: {"token": ctx["invitation"].token}),
    Route(P + "join/<str:token>/", "POST", {ANON: 400, VOL: 400, ADM: 400, RES: 400},
          kwargs=lambda ctx: {"token": ctx["invitation"].token}),
    Route(P + "protocols/", "GET", allowed(ADM)),
    Route(P + "protocols/", "POST", allowed(ADM, ok={400})),
    Route(P + "protocols/<int:protocol_id>/", "GET", allowed(ADM), kwargs=_protocol),
    Route(P + "protocols/<int:protocol_id>/", "PATCH", allowed(ADM), kwargs=_protocol, data={"cohort": "x"}),
    Route(P + "protocols/<int:protocol_id>/rounds/", "POST", allowed(ADM, ok={409}), kwargs=_protocol),
    Route(P + "rounds/<int:round_id>/close/", "POST", allowed(ADM, ok={200}),
          kwargs=lambda ctx: {"round_id": ctx["round"].pk}),
    Route(P + "protocols/<int:protocol_id>/invitations/", "GET", allowed(ADM), kwargs=_protocol),
    Route(P + "protocols/<int:protocol_id>/invitations/", "POST", allowed(ADM, ok={400}), kwargs=_protocol),
    Route(P + "protocols/<int:protocol_id>/funnel/", "GET", allowed(ADM), kwargs=_protocol),
    Route(P + "protocols/<int:protocol_id>/export.csv", "GET", allowed(ADM), kwargs=_protocol),
    Route(P + "volunteers/<int:user_id>/", "GET", allowed(ADM), kwargs=lambda ctx: {"user_id": ctx["enrolled"].pk}),
    Route(P + "volunteers/<int:user_id>/certify/", "POST", allowed(ADM, ok={400}),
          kwargs=lambda ctx: {"user_id": ctx["enrolled"].pk}),
    Route(P + "volunteers/<int:user_id>/exit/", "POST", allowed(ADM, ok={400}),
          kwargs=lambda ctx: {"user_id": ctx["enrolled"].pk}),
    Route(P + "gold/", "GET", allowed(ADM)),
    Route(P + "gold/import/", "POST", allowed(ADM, ok={400}), fmt="multipart", data={}),
]  # fmt: skip
