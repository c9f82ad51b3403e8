"""Qualification API. One APIView per operation; volunteer views under ``me/`` never return gold scores
except training feedback after the answer, and only aggregate metrics of a *submitted* exam."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Standard, User
from annotation.pass_rules import PASS_RULES
from annotation.selectors import default_standard, default_standard_key
from humanbeauty.api import IsPlatformAdmin, IsVolunteer
from humanbeauty.bounds import bound_kwargs
from humanbeauty.errors import ApplicationError, NotFoundError

from . import selectors
from .models import PROTOCOL_BOUNDS, Attempt, AttemptItem, Enrollment, Protocol, Round
from .rule_serializers import PassRuleField, PassRuleOutputSerializer, pass_rule_errors, pass_rule_rows
from .services import exams, gold, protocols, states

# ------------------------------------------------------------------------------------------ serializers


class ProtocolSerializer(serializers.ModelSerializer):
    """A protocol. Its pass rules (``max_mae``, ``min_mean_srcc``, ``max_abs_bias``) are validated by
    ``rule_serializers.PassRulesSerializer``, the admin page's validator too; ``pass_rules`` describes them."""

    standard = serializers.SlugRelatedField(slug_field="key", queryset=Standard.objects.all(), required=False)
    rounds = serializers.SerializerMethodField()
    pass_rules = serializers.SerializerMethodField()

    class Meta:
        model = Protocol
        fields = [
            "id", "name", "cohort", "standard", "max_mae", "min_mean_srcc", "max_abs_bias", "n_iterations",
            "n_training", "n_scored", "n_warmup", "retake_delay", "max_attempts", "n_retraining", "hidden_gold_share",
            "hidden_gold_window", "warn_margin", "suspend_margin", "recertification_interval", "is_active",
            "created_at", "rounds", "pass_rules",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "rounds", "pass_rules"]
        extra_kwargs = {k: v for k, v in bound_kwargs(PROTOCOL_BOUNDS).items() if k not in PASS_RULES}

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for kind, rule in PASS_RULES.items():  # documented (bounds, meaning); validated in to_internal_value
            fields[kind] = PassRuleField(rule, required=False)
        return fields

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):  # DRF's own "expected a dictionary" error
            return super().to_internal_value(data)
        rules, errors = pass_rule_errors(data)
        rest = {k: v for k, v in data.items() if k not in PASS_RULES}
        try:
            validated = super().to_internal_value(rest)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**errors, **exc.detail}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return {**validated, **rules}

    @extend_schema_field(PassRuleOutputSerializer(many=True))
    def get_pass_rules(self, obj: Protocol) -> list[dict[str, Any]]:
        return pass_rule_rows({kind: getattr(obj, kind) for kind in PASS_RULES})

    def get_rounds(self, obj: Protocol) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "number": r.number,
                "status": r.status,
                "opened_at": r.opened_at,
                "closed_at": r.closed_at,
            }
            for r in obj.rounds.all()
        ]


class ExamResultSerializer(serializers.Serializer):
    """Aggregate metrics of a submitted exam: an explicit whitelist, never per-item gold."""

    n_items = serializers.IntegerField(allow_null=True)
    mae = serializers.FloatField(allow_null=True)
    mean_srcc = serializers.FloatField(allow_null=True)
    pooled_srcc = serializers.FloatField(allow_null=True)
    pooled_plcc = serializers.FloatField(allow_null=True)
    dimension_keys = serializers.ListField(child=serializers.CharField(), allow_null=True)
    mae_per_dim = serializers.ListField(child=serializers.FloatField(allow_null=True), allow_null=True)
    bias_per_dim = serializers.ListField(child=serializers.FloatField(allow_null=True), allow_null=True)
    srcc_per_dim = serializers.ListField(child=serializers.FloatField(allow_null=True), allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField(), allow_null=True)
    weak_dimension_keys = serializers.ListField(child=serializers.CharField(), allow_null=True)


class AttemptOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    round_number = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    passed = serializers.BooleanField(allow_null=True)
    result = ExamResultSerializer(allow_null=True)


class ExamOutputSerializer(AttemptOutputSerializer):
    class Item(serializers.Serializer):
        position = serializers.IntegerField()
        image = serializers.CharField()
        thumb = serializers.CharField()
        answered = serializers.BooleanField()
        # The volunteer's own stored answer (never the experts'), so a reloaded form shows it again.
        scores = serializers.DictField(child=serializers.FloatField(allow_null=True), allow_null=True)

    items = Item(many=True)


def _image_urls(sha: str) -> dict[str, str]:
    return {"image": f"/api/images/{sha}/file/", "thumb": f"/api/images/{sha}/thumb/"}


def _my_enrollment(request: Request) -> Enrollment:
    enrollment = selectors.enrollment_for(user=request.user)
    if enrollment is None:
        raise NotFoundError("You are not enrolled in qualification. Ask an admin for an invitation.")
    return enrollment


# ------------------------------------------------------------------------------------------- volunteer


class MyStatusApi(APIView):
    """The volunteer's own qualification status (state, round, training progress, retake time, results)."""

    permission_classes = [IsVolunteer]

    class OutputSerializer(serializers.Serializer):
        enrolled = serializers.BooleanField()
        state = serializers.CharField(allow_null=True)
        state_label = serializers.CharField(required=False)
        protocol = serializers.CharField(allow_null=True, required=False)
        round_number = serializers.IntegerField(required=False)
        rounds_total = serializers.IntegerField(required=False)
        rounds_passed = serializers.IntegerField(required=False)
        round_open = serializers.BooleanField(required=False)
        training_done = serializers.IntegerField(required=False)
        training_needed = serializers.IntegerField(required=False)
        retraining = serializers.BooleanField(required=False)
        retraining_focus = serializers.ListField(child=serializers.CharField(), required=False)
        exam_items = serializers.IntegerField(required=False)
        max_attempts = serializers.IntegerField(required=False)
        open_attempt = serializers.IntegerField(allow_null=True, required=False)
        retake_at = serializers.DateTimeField(allow_null=True, required=False)
        attempts = AttemptOutputSerializer(many=True, required=False)
        certified_at = serializers.DateTimeField(allow_null=True, required=False)

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.volunteer_status(user=request.user)).data)


class TrainingStartApi(APIView):
    permission_classes = [IsVolunteer]

    @extend_schema(request=None, responses={200: MyStatusApi.OutputSerializer})
    def post(self, request: Request) -> Response:
        exams.training_start(enrollment=_my_enrollment(request))
        return Response(MyStatusApi.OutputSerializer(selectors.volunteer_status(user=request.user)).data)


class TrainingNextApi(APIView):
    """The next training image (no scores: feedback comes with the answer)."""

    permission_classes = [IsVolunteer]

    class OutputSerializer(serializers.Serializer):
        class Item(serializers.Serializer):
            id = serializers.IntegerField()
            image = serializers.CharField()
            thumb = serializers.CharField()

        item = Item(allow_null=True)
        done = serializers.IntegerField()
        needed = serializers.IntegerField()
        retraining = serializers.BooleanField()
        focus_dimensions = serializers.ListField(child=serializers.CharField())

    @extend_schema(request=None, responses={200: OutputSerializer})
    def post(self, request: Request) -> Response:
        enrollment = _my_enrollment(request)
        item = exams.training_next(enrollment=enrollment)
        enrollment.refresh_from_db()
        payload = {
            "item": {"id": item.id, **_image_urls(item.gold_item.image_id)} if item is not None else None,
            **selectors.training_progress(enrollment=enrollment),
        }
        return Response(self.OutputSerializer(payload).data)


class TrainingAnswerApi(APIView):
    """Answer a training image; the response is the feedback (expert scores and rationale)."""

    permission_classes = [IsVolunteer]

    class InputSerializer(serializers.Serializer):
        scores = serializers.DictField(child=serializers.FloatField(allow_null=True))

    class OutputSerializer(serializers.Serializer):
        class Dimension(serializers.Serializer):
            key = serializers.CharField()
            yours = serializers.FloatField(allow_null=True)
            expert_mean = serializers.FloatField()
            expert_sd = serializers.FloatField(allow_null=True)
            difference = serializers.FloatField(allow_null=True)
            rationale = serializers.CharField(allow_blank=True)
            focus = serializers.BooleanField(help_text="A dimension the failed exam flagged (retraining).")

        training_item = serializers.IntegerField()
        dimensions = Dimension(many=True)
        retraining = serializers.IntegerField(allow_null=True)
        focus_dimensions = serializers.ListField(child=serializers.CharField())
        done = serializers.IntegerField()
        needed = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request: Request, answer_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrollment = _my_enrollment(request)
        feedback = exams.training_answer(
            enrollment=enrollment, answer_id=answer_id, scores=data.validated_data["scores"]
        )
        enrollment.refresh_from_db()
        progress = selectors.training_progress(enrollment=enrollment)
        feedback["done"], feedback["needed"] = progress["done"], progress["needed"]
        return Response(self.OutputSerializer(feedback).data)


def _exam_payload(attempt: Attempt) -> dict[str, Any]:
    items = AttemptItem.objects.filter(attempt=attempt).select_related("gold_item").order_by("position")
    return {
        **selectors.attempt_public(attempt),
        "items": [
            {
                "position": it.position,
                **_image_urls(it.gold_item.image_id),
                "answered": it.answered_at is not None,
                "scores": it.scores if it.answered_at is not None else None,
            }
            for it in items
        ],
    }


class ExamStartApi(APIView):
    """Start (or resume) the exam: a fresh form; items carry images only, never scores."""

    permission_classes = [IsVolunteer]

    @extend_schema(request=None, responses={200: ExamOutputSerializer})
    def post(self, request: Request) -> Response:
        attempt = exams.exam_start(enrollment=_my_enrollment(request))
        return Response(ExamOutputSerializer(_exam_payload(attempt)).data)


def _my_attempt(request: Request, attempt_id: int) -> tuple[Enrollment, Attempt]:
    enrollment = _my_enrollment(request)
    attempt = Attempt.objects.filter(pk=attempt_id, enrollment=enrollment).first()
    if attempt is None:
        raise NotFoundError("No such exam attempt.")
    return enrollment, attempt


class ExamDetailApi(APIView):
    permission_classes = [IsVolunteer]

    @extend_schema(responses={200: ExamOutputSerializer})
    def get(self, request: Request, attempt_id: int) -> Response:
        _, attempt = _my_attempt(request, attempt_id)
        return Response(ExamOutputSerializer(_exam_payload(attempt)).data)


class ExamAnswerApi(APIView):
    """Store one exam answer. The response says only that it was stored."""

    permission_classes = [IsVolunteer]

    class InputSerializer(serializers.Serializer):
        position = serializers.IntegerField(min_value=0)
        scores = serializers.DictField(child=serializers.FloatField(allow_null=True))

    class OutputSerializer(serializers.Serializer):
        stored = serializers.BooleanField()
        position = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request: Request, attempt_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrollment, attempt = _my_attempt(request, attempt_id)
        exams.attempt_answer(enrollment=enrollment, attempt=attempt, **data.validated_data)
        return Response(
            self.OutputSerializer({"stored": True, "position": data.validated_data["position"]}).data
        )


class ExamSubmitApi(APIView):
    permission_classes = [IsVolunteer]

    class OutputSerializer(AttemptOutputSerializer):
        state = serializers.CharField()

    @extend_schema(request=None, responses={200: OutputSerializer})
    def post(self, request: Request, attempt_id: int) -> Response:
        enrollment, attempt = _my_attempt(request, attempt_id)
        attempt = exams.attempt_submit(enrollment=enrollment, attempt=attempt)
        enrollment.refresh_from_db()
        return Response(
            self.OutputSerializer({**selectors.attempt_public(attempt), "state": enrollment.state}).data
        )


class InvitationDetailApi(APIView):
    """Anonymous: what an invitation link is for (protocol name), and accepting it (set a password)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(write_only=True)

    @extend_schema(responses={200: dict})
    def get(self, request: Request, token: str) -> Response:
        invitation = protocols.invitation_get(token=token)
        return Response(
            {
                "protocol": invitation.protocol.name,
                "email": invitation.email,
                "used": invitation.user_id is not None,
            }
        )

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = protocols.invitation_accept(token=token, **data.validated_data)
        return Response({"username": user.username}, status=201)


# ----------------------------------------------------------------------------------------------- admin


class ProtocolListApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={200: ProtocolSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ProtocolSerializer(selectors.protocol_list(), many=True).data)

    @extend_schema(request=ProtocolSerializer, responses={201: ProtocolSerializer})
    def post(self, request: Request) -> Response:
        data = ProtocolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        standard = params.pop("standard", None) or default_standard()
        protocol = protocols.protocol_create(standard=standard, created_by=request.user, **params)
        return Response(ProtocolSerializer(protocol).data, status=201)


class ProtocolDetailApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={200: ProtocolSerializer})
    def get(self, request: Request, protocol_id: int) -> Response:
        return Response(ProtocolSerializer(get_object_or_404(Protocol, pk=protocol_id)).data)

    @extend_schema(request=ProtocolSerializer, responses={200: ProtocolSerializer})
    def patch(self, request: Request, protocol_id: int) -> Response:
        protocol = get_object_or_404(Protocol, pk=protocol_id)
        data = ProtocolSerializer(protocol, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        if "standard" in params and params.pop("standard") != protocol.standard:
            raise ApplicationError("The standard of a protocol cannot change.")
        protocol = protocols.protocol_update(protocol=protocol, **params)
        return Response(ProtocolSerializer(protocol).data)


class RoundOpenApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={201: dict})
    def post(self, request: Request, protocol_id: int) -> Response:
        rnd = protocols.round_open(protocol=get_object_or_404(Protocol, pk=protocol_id), actor=request.user)
        return Response({"id": rnd.id, "number": rnd.number, "status": rnd.status}, status=201)


class RoundCloseApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, round_id: int) -> Response:
        return Response(
            protocols.round_close(round=get_object_or_404(Round, pk=round_id), actor=request.user)
        )


class InvitationListApi(APIView):
    """List invitations, or invite people: a CSV file (``file``, columns email,name) or JSON ``people``."""

    permission_classes = [IsPlatformAdmin]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        class Person(serializers.Serializer):
            email = serializers.EmailField(required=False, allow_blank=True)
            name = serializers.CharField(required=False, allow_blank=True, max_length=200)

        people = Person(many=True, required=False)
        file = serializers.FileField(required=False)

    class OutputSerializer(serializers.Serializer):
        email = serializers.CharField()
        name = serializers.CharField()
        link = serializers.CharField()
        accepted = serializers.BooleanField()
        username = serializers.CharField(allow_null=True)

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request: Request, protocol_id: int) -> Response:
        protocol = get_object_or_404(Protocol, pk=protocol_id)
        rows = [
            {"email": i.email, "name": i.name, "link": f"/qualification/join/{i.token}/",
             "accepted": i.accepted_at is not None, "username": i.user.username if i.user else None}
            for i in protocol.invitations.select_related("user").order_by("id")
        ]  # fmt: skip
        return Response(rows)

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request, protocol_id: int) -> Response:
        protocol = get_object_or_404(Protocol, pk=protocol_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("file") is not None:
            text = data.validated_data["file"].read().decode("utf-8-sig", errors="replace")
            people = protocols.invitations_from_csv(text=text)
        else:
            people = data.validated_data.get("people") or []
        if not people:
            raise ApplicationError("Nobody to invite: upload a CSV (email,name) or send people.")
        created = protocols.invitation_create_bulk(protocol=protocol, people=people, created_by=request.user)
        links = [
            {"email": i.email, "name": i.name, "link": f"/qualification/join/{i.token}/"} for i in created
        ]
        return Response({"created": len(created), "invitations": links}, status=201)


class FunnelApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, protocol_id: int) -> Response:
        protocol = get_object_or_404(Protocol, pk=protocol_id)
        return Response(
            {
                "funnel": selectors.protocol_funnel(protocol=protocol),
                "volunteers": selectors.volunteer_rows(protocol=protocol),
            }
        )


class FunnelExportApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request: Request, protocol_id: int) -> HttpResponse:
        protocol = get_object_or_404(Protocol, pk=protocol_id)
        response = HttpResponse(selectors.funnel_csv(protocol=protocol), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="qualification-{protocol.pk}.csv"'
        return response


class VolunteerDetailApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, user_id: int) -> Response:
        return Response(selectors.volunteer_detail(user=get_object_or_404(User, pk=user_id)))


class VolunteerActionInput(serializers.Serializer):
    reason = serializers.CharField(max_length=400)


class VolunteerCertifyApi(APIView):
    """Admin override: certify without an exam (experts), through the state machine."""

    permission_classes = [IsPlatformAdmin]
    InputSerializer = VolunteerActionInput

    @extend_schema(request=VolunteerActionInput, responses={200: dict})
    def post(self, request: Request, user_id: int) -> Response:
        data = VolunteerActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_object_or_404(User, pk=user_id)
        states.volunteer_certify_by_admin(user=user, admin=request.user, reason=data.validated_data["reason"])
        return Response(selectors.volunteer_detail(user=user))


class VolunteerExitApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=VolunteerActionInput, responses={200: dict})
    def post(self, request: Request, user_id: int) -> Response:
        data = VolunteerActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_object_or_404(User, pk=user_id)
        states.volunteer_exit_by_admin(user=user, admin=request.user, reason=data.validated_data["reason"])
        return Response(selectors.volunteer_detail(user=user))


class GoldListApi(APIView):
    """Admin only: the gold bank with expert scores, and its coverage of every dimension's range."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        standard = get_object_or_404(
            Standard, key=request.query_params.get("standard") or default_standard_key()
        )
        items = [
            {"id": g.id, "image": g.image_id, "n_experts": g.n_experts, "is_active": g.is_active,
             "mean": g.expert_mean, "sd": g.expert_sd, "rationale": g.rationale}
            for g in selectors.gold_item_list(standard=standard)
        ]  # fmt: skip
        return Response({"coverage": selectors.gold_bank_coverage(standard=standard), "items": items})


class GoldImportApi(APIView):
    """Import a gold bank: ``file`` (CSV or JSON) plus the image files (``images``, several)."""

    permission_classes = [IsPlatformAdmin]
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        images = serializers.ListField(child=serializers.FileField(), required=False)
        standard = serializers.SlugField(required=False, default=default_standard_key)

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        standard = get_object_or_404(Standard, key=data.validated_data["standard"])
        upload = data.validated_data["file"]
        text = upload.read().decode("utf-8-sig", errors="replace")
        if upload.name.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
            rows = gold.gold_rows_from_json(text=text)
        else:
            rows = gold.gold_rows_from_csv(text=text)
        files = {f.name: f.read() for f in request.FILES.getlist("images")}
        result = gold.gold_bank_import(standard=standard, rows=rows, files=files, imported_by=request.user)
        return Response(result, status=201)
