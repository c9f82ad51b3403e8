"""Modeling API (``/api/modeling/``): the registry, training/evaluation/pre-scoring jobs, and predict.

Admins and researchers read the registry and score uploads; only admins start jobs or change the active
version. No route here is open to volunteers: predictions are never shown to raters.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.services.images import upload_read
from humanbeauty.api import ErrorSerializer, IsAdminOrResearcher, IsPlatformAdmin, NonBlankSlugField
from humanbeauty.errors import NotFoundError

from . import selectors
from .models import ModelVersion
from .services import (
    model_evaluate_start,
    model_train_start,
    model_version_activate,
    predict_image,
    predict_start,
    prescore_start,
)

JobStartedSerializer = inline_serializer(
    "ModelingJobStarted",
    {"job_id": serializers.IntegerField(), "version": serializers.CharField(required=False)},
)


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()
    is_active = serializers.BooleanField()
    release_version = serializers.CharField()
    code_revision = serializers.CharField()
    checkpoint_path = serializers.CharField()
    backbone_path = serializers.CharField()
    config = serializers.JSONField()
    training = serializers.JSONField()
    metrics = serializers.JSONField(
        help_text="evaluate_release() output; paper_mse = RMSE, paper_mae = √MAE."
    )
    job_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)


def _version_or_404(version_id: int) -> ModelVersion:
    mv = selectors.model_version_get(version_id=version_id)
    if mv is None:
        raise NotFoundError(f"Model version {version_id} not found.")
    return mv


class ModelVersionListApi(APIView):
    """GET: the registry (admin, researcher). POST: train a new version (admin) on a release directory."""

    parser_classes = [JSONParser]

    def get_permissions(self) -> list:
        return [IsPlatformAdmin()] if self.request.method == "POST" else [IsAdminOrResearcher()]

    class InputSerializer(serializers.Serializer):
        version = serializers.SlugField(max_length=64)
        release_dir = serializers.CharField(help_text="Release directory (absolute, or under RELEASES_ROOT).")
        backbone_path = serializers.CharField(
            help_text="Local backbone directory (absolute, or under MODELS_ROOT)."
        )
        config = serializers.DictField(required=False, help_text="HumanAesExpertConfig overrides.")
        max_steps = serializers.IntegerField(
            required=False, min_value=1, max_value=10_000_000, allow_null=True
        )
        stage_two = serializers.BooleanField(default=True)
        activate = serializers.BooleanField(default=False)

    @extend_schema(responses={200: ModelVersionOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ModelVersionOutputSerializer(selectors.model_version_list(), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={202: JobStartedSerializer, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = model_train_start(**data.validated_data, created_by=request.user)
        return Response({"job_id": job.pk, "version": data.validated_data["version"]}, status=202)


class ModelVersionDetailApi(APIView):
    permission_classes = [IsAdminOrResearcher]

    class OutputSerializer(ModelVersionOutputSerializer):
        evaluations = serializers.SerializerMethodField()

        def get_evaluations(self, obj: ModelVersion) -> list[dict]:
            return [
                {"id": e.pk, "dataset": e.dataset, "n": e.n, "metrics": e.metrics, "created_at": e.created_at}
                for e in selectors.evaluation_list(model_version=obj)
            ]

    @extend_schema(responses={200: OutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, version_id: int) -> Response:
        return Response(self.OutputSerializer(_version_or_404(version_id)).data)


class ModelVersionActivateApi(APIView):
    """Make this version the one active version and queue pre-scoring of the pool with it."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=None,
        responses={200: ModelVersionOutputSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, version_id: int) -> Response:
        mv = model_version_activate(model_version=_version_or_404(version_id), by=request.user)
        return Response(ModelVersionOutputSerializer(mv).data)


class ModelVersionEvaluateApi(APIView):
    """Evaluate a version on a release split or zero-shot on ``{"image", "gt_score"}`` records (server paths)."""

    permission_classes = [IsPlatformAdmin]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        release_dir = serializers.CharField(required=False)
        split = serializers.ChoiceField(choices=["train", "test"], default="test")
        records_path = serializers.CharField(required=False, help_text="A JSON list of {image, gt_score}.")
        records = serializers.ListField(child=serializers.DictField(), required=False)
        source = serializers.SlugField(required=False, help_text="A curation source key (zero-shot).")
        dataset = serializers.CharField(required=False, default="", allow_blank=True)
        limit = serializers.IntegerField(required=False, min_value=1, allow_null=True)

        def validate(self, attrs: dict) -> dict:
            if sum(k in attrs for k in ("release_dir", "records_path", "records", "source")) != 1:
                raise serializers.ValidationError(
                    "Give exactly one of release_dir, source, records_path or records."
                )
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={202: JobStartedSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def post(self, request: Request, version_id: int) -> Response:
        mv = _version_or_404(version_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = model_evaluate_start(model_version=mv, created_by=request.user, **data.validated_data)
        return Response({"job_id": job.pk, "version": mv.version}, status=202)


class PrescoreStartApi(APIView):
    """Queue pre-scoring of the open pool items that lack a prediction by the active version."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={202: JobStartedSerializer, 409: ErrorSerializer})
    def post(self, request: Request) -> Response:
        job = prescore_start(created_by=request.user)
        return Response({"job_id": job.pk, "version": job.params.get("version", "")}, status=202)


class PredictApi(APIView):
    """Upload an image, get its scores (like ArtiMuse's online demo): the 12 dimensions, each head's overall
    score, the final (MetaVoter) score and the rating level. The upload is decoded with the image store's
    limits and not stored."""

    permission_classes = [IsAdminOrResearcher]
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        version = NonBlankSlugField(required=False, help_text="A ready version tag; default: the active one.")

    class OutputSerializer(serializers.Serializer):
        image = serializers.CharField(help_text="SHA-256 of the decoded upload.")
        model_version = serializers.CharField()
        score = serializers.FloatField()
        rating_level = serializers.CharField()
        final_score = serializers.FloatField(allow_null=True, help_text="MetaVoter; null if untrained.")
        lm_score = serializers.FloatField()
        regression_score = serializers.FloatField()
        expert_overall = serializers.FloatField()
        heads_disagreement = serializers.FloatField()
        dimensions = serializers.DictField(
            child=serializers.FloatField(), help_text="Expert head's score per dimension key of the standard."
        )

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={200: OutputSerializer, 400: ErrorSerializer, 409: ErrorSerializer, 413: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        upload_bytes = upload_read(upload=upload)
        mv = None
        if tag := data.validated_data.get("version"):
            mv = selectors.model_version_by_tag(version=tag)
            if mv is None:
                raise NotFoundError(f"Model version {tag!r} not found.")
        return Response(self.OutputSerializer(predict_image(data=upload_bytes, model_version=mv)).data)


class PredictJobApi(APIView):
    """Queue a prediction on the gpu workers (where the model is loaded) instead of scoring in the web
    process: 202 with the job; its ``result`` (``GET /api/jobs/<id>/``) is the same object as ``predict/``
    returns. Bad files (400/413) and "no ready version" (409) are refused before anything is queued."""

    permission_classes = [IsAdminOrResearcher]
    parser_classes = [MultiPartParser, FormParser]

    class OutputSerializer(serializers.Serializer):
        job_id = serializers.IntegerField()
        job_url = serializers.CharField()
        model_version = serializers.CharField()

    @extend_schema(
        request={"multipart/form-data": PredictApi.InputSerializer},
        responses={202: OutputSerializer, 400: ErrorSerializer, 409: ErrorSerializer, 413: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = PredictApi.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload_bytes = upload_read(upload=data.validated_data["file"])
        mv = None
        if tag := data.validated_data.get("version"):
            mv = selectors.model_version_by_tag(version=tag)
            if mv is None:
                raise NotFoundError(f"Model version {tag!r} not found.")
        job = predict_start(data=upload_bytes, model_version=mv, created_by=request.user)
        out = {
            "job_id": job.pk,
            "job_url": reverse("annotation:job-detail", kwargs={"job_id": job.pk}),
            "model_version": job.params["version"],
        }
        return Response(self.OutputSerializer(out).data, status=202)


class PredictionDetailApi(APIView):
    """A stored pre-score of one image (by the active version, or ``?version=``): the dimensions and heads by
    key, with the standard they refer to. For the default standard the head scores are also given under
    their former names (``lm_score``, ``regression_score``, ``expert_overall``, ``final_score``)."""

    permission_classes = [IsAdminOrResearcher]

    class OutputSerializer(serializers.Serializer):
        image = serializers.CharField(source="image_id")
        model_version = serializers.CharField(source="model_version.version")
        standard = serializers.CharField(source="standard.key")
        score = serializers.FloatField()
        rating_level = serializers.CharField()
        heads_disagreement = serializers.FloatField()
        dimensions = serializers.DictField(
            child=serializers.FloatField(), help_text="In the standard's order."
        )
        heads = serializers.DictField(
            child=serializers.FloatField(allow_null=True),
            source="head_scores",
            help_text="Overall score per head.",
        )
        lm_score = serializers.FloatField(source="head_scores.lm", allow_null=True, default=None)
        regression_score = serializers.FloatField(
            source="head_scores.regression", allow_null=True, default=None
        )
        expert_overall = serializers.FloatField(source="head_scores.expert", allow_null=True, default=None)
        final_score = serializers.FloatField(source="head_scores.final", allow_null=True, default=None)

    @extend_schema(
        parameters=[
            OpenApiParameter("version", str, required=False, description="Version tag; default active.")
        ],
        responses={200: OutputSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, sha256: str) -> Response:
        prediction = selectors.prediction_for(
            image_sha256=sha256, version=request.query_params.get("version")
        )
        if prediction is None:
            raise NotFoundError("No prediction for this image by that version.")
        return Response(self.OutputSerializer(prediction).data)
