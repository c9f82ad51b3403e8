"""Core API: auth token, current user, standards, image store, jobs. One APIView per operation."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from humanbeauty.api import (
    ErrorSerializer,
    IsAdminOrResearcher,
    IsPlatformAdmin,
    LoginThrottled,
    paginated,
)
from humanbeauty.errors import ApplicationError
from humanbeauty.security import client_ip, login_failed, login_refusal, login_succeeded

from . import selectors
from .models import Image, Job
from .services.images import image_upload, upload_read
from .services.jobs import job_cancel, job_is_resumable, job_resume
from .services.standards import standard_create_from_spec


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (token auth for scripts and researchers)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(write_only=True)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: ErrorSerializer, 413: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username, ip = data.validated_data["username"], client_ip(request)
        if refusal := login_refusal(username=username, ip=ip):
            raise LoginThrottled(refusal)
        user = authenticate(request, **data.validated_data)
        if user is None:
            login_failed(username=username, ip=ip)
            raise ApplicationError("Wrong username or password.", status=400)
        login_succeeded(username=username)
        token, _ = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer({"token": token.key}).data)


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        role = serializers.CharField()
        is_superuser = serializers.BooleanField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(request.user).data)


class DimensionOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    order = serializers.IntegerField()
    parent = serializers.CharField(source="parent.key", allow_null=True, default=None)
    guideline = serializers.CharField()
    low_anchor = serializers.CharField()
    high_anchor = serializers.CharField()
    asks_comment = serializers.BooleanField()
    comment_required = serializers.BooleanField()


class StandardOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    score_min = serializers.FloatField()
    score_max = serializers.FloatField()
    min_ratings = serializers.IntegerField()
    dimensions = DimensionOutputSerializer(many=True, source="dimensions.all")


class StandardListApi(APIView):
    def get_permissions(self) -> list:
        return [IsPlatformAdmin()] if self.request.method == "POST" else [IsAuthenticated()]

    class InputSerializer(serializers.Serializer):
        class DimensionInput(serializers.Serializer):
            key = serializers.SlugField(max_length=64)
            name = serializers.CharField(max_length=200)
            parent = serializers.SlugField(max_length=64, required=False, allow_null=True)
            guideline = serializers.CharField(required=False, allow_blank=True)
            low_anchor = serializers.CharField(required=False, allow_blank=True)
            high_anchor = serializers.CharField(required=False, allow_blank=True)
            asks_comment = serializers.BooleanField(required=False, default=False)
            comment_required = serializers.BooleanField(
                required=False, default=False, help_text="A written comment is required with a score."
            )

        key = serializers.SlugField(max_length=64)
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True)
        score_min = serializers.FloatField(required=False, default=0.0)
        score_max = serializers.FloatField(required=False, default=1.0)
        min_ratings = serializers.IntegerField(required=False, min_value=1, max_value=100)
        dimensions = DimensionInput(many=True)

    @extend_schema(responses={200: StandardOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(StandardOutputSerializer(selectors.standard_list(), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: StandardOutputSerializer, 400: ErrorSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        standard = standard_create_from_spec(spec=data.validated_data)
        return Response(StandardOutputSerializer(selectors.standard_get(key=standard.key)).data, status=201)


class StandardDetailApi(APIView):
    @extend_schema(responses={200: StandardOutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, key: str) -> Response:
        standard = get_object_or_404(selectors.standard_list(), key=key)
        return Response(StandardOutputSerializer(standard).data)


class JobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    fraction = serializers.FloatField(allow_null=True)
    message = serializers.CharField()
    error = serializers.CharField()
    params = serializers.JSONField()
    result = serializers.JSONField()
    celery_task_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField(help_text="Re-dispatches by the watchdog after a lost worker.")
    resumable = serializers.SerializerMethodField()

    def get_resumable(self, job: Job) -> bool:
        return job_is_resumable(job)

    def to_representation(self, instance: Job) -> dict:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if not (request and request.user.is_authenticated and request.user.is_platform_admin):
            data["error"] = instance.error_summary  # tracebacks are for admins only
        return data


class ImageOutputSerializer(serializers.Serializer):
    sha256 = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField()
    size_bytes = serializers.IntegerField()
    provenance = serializers.CharField()
    source = serializers.CharField()
    source_ref = serializers.CharField()
    created_at = serializers.DateTimeField()


class ImageListApi(APIView):
    """The image store: admins see every image, researchers the released ones (never gold). Uploading the
    same bytes twice returns the same image."""

    parser_classes = [MultiPartParser, FormParser]

    def get_permissions(self) -> list:
        return [IsPlatformAdmin()] if self.request.method == "POST" else [IsAdminOrResearcher()]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        provenance = serializers.ChoiceField(
            choices=Image.Provenance.choices, default=Image.Provenance.PUBLIC
        )
        source = serializers.CharField(required=False, allow_blank=True, default="")
        source_ref = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="images_list",
        parameters=[
            OpenApiParameter("limit", int, description="Page size (default 50)."),
            OpenApiParameter("offset", int, description="Items to skip."),
            OpenApiParameter("source", str, description="Only images from this source."),
        ],
        responses={200: paginated(ImageOutputSerializer, "PaginatedImageList")},
    )
    def get(self, request: Request) -> Response:
        qs = selectors.image_list_for(user=request.user)
        if source := request.query_params.get("source"):
            qs = qs.filter(source=source)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ImageOutputSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        description=(
            "Store an image (admins). Cheap checks (size, magic bytes, format, header pixels) run first; "
            "a bad file is a 400/413 and nothing is stored. Bytes already stored answer 200 with their "
            "image; a new image up to `HB_IMAGE_SYNC_MAX_PIXELS` pixels is stored at once (201); a bigger "
            "one is decoded on a worker: 202 with the queued `annotation.image_ingest` job (its `result` "
            "names the stored image; a failed decode is the job's error). Poll `/api/jobs/<id>/`."
        ),
        responses={
            201: ImageOutputSerializer,
            200: ImageOutputSerializer,
            202: JobOutputSerializer,
            400: ErrorSerializer,
            413: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        outcome = image_upload(
            data=upload_read(upload=upload),
            provenance=data.validated_data["provenance"],
            source=data.validated_data["source"],
            source_ref=data.validated_data["source_ref"] or upload.name,
            uploaded_by=request.user,
        )
        if outcome.job is not None:
            body = JobOutputSerializer(outcome.job, context={"request": request}).data
            return Response(body, status=202, headers={"Location": f"/api/jobs/{outcome.job.pk}/"})
        return Response(ImageOutputSerializer(outcome.image).data, status=201 if outcome.created else 200)


class ImageDetailApi(APIView):
    permission_classes = [IsAdminOrResearcher]

    @extend_schema(responses={200: ImageOutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, sha256: str) -> Response:
        image = selectors.image_list_for(user=request.user).filter(sha256=sha256).first()
        if image is None:
            raise NotFound("No such image.")
        return Response(ImageOutputSerializer(image).data)


class ImageFileApi(APIView):
    """Stream an image's bytes (or its thumbnail) from storage to a signed-in user who needs it
    (``selectors.image_visible_to``: 404 otherwise, as for an image that does not exist).

    Works the same on the filesystem and on S3, so media never needs a public URL.
    """

    @extend_schema(
        responses={(200, "image/*"): OpenApiResponse(description="image bytes"), 404: ErrorSerializer}
    )
    def get(self, request: Request, sha256: str, variant: str) -> FileResponse:
        image = Image.objects.filter(sha256=sha256).first()
        if image is None or not selectors.image_visible_to(user=request.user, sha256=sha256):
            raise NotFound("No such image.")  # the same answer whether it exists or not
        field = image.thumbnail if variant == "thumb" and image.thumbnail else image.file
        content_type = "image/jpeg" if field is image.thumbnail else f"image/{image.format.lower()}"
        response = FileResponse(default_storage.open(field.name, "rb"), content_type=content_type)
        response["Cache-Control"] = "private, max-age=86400, immutable"
        return response


class JobListApi(APIView):
    """Jobs the caller started (admins see every job). Poll a job's detail for progress."""

    @extend_schema(responses={200: JobOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        qs = selectors.job_list_for(user=request.user)
        if kind := request.query_params.get("kind"):
            qs = qs.filter(kind=kind)
        return Response(JobOutputSerializer(qs[:200], many=True, context={"request": request}).data)


class JobDetailApi(APIView):
    @extend_schema(responses={200: JobOutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(selectors.job_list_for(user=request.user), pk=job_id)
        return Response(JobOutputSerializer(job, context={"request": request}).data)


class JobCancelApi(APIView):
    @extend_schema(
        request=None, responses={200: JobOutputSerializer, 404: ErrorSerializer, 409: ErrorSerializer}
    )
    def post(self, request: Request, job_id: int) -> Response:
        job: Job = get_object_or_404(selectors.job_list_for(user=request.user), pk=job_id)
        return Response(JobOutputSerializer(job_cancel(job=job), context={"request": request}).data)


class JobResumeApi(APIView):
    """Queue a chunked job again (after a lost worker, a failure or a cancel); only missing work is done.
    Admins only. 409 when the kind cannot resume, the job already succeeded, or its worker is alive."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=None,
        responses={
            200: JobOutputSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def post(self, request: Request, job_id: int) -> Response:
        job: Job = get_object_or_404(selectors.job_list_for(user=request.user), pk=job_id)
        return Response(JobOutputSerializer(job_resume(job=job), context={"request": request}).data)
