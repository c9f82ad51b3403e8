"""Curation API (mounted at /api/curation/): sources, filter jobs, releases and their downloads.
One APIView per operation with nested Input/Output serializers; logic lives in services/selectors."""

from __future__ import annotations

import json
from pathlib import Path

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis import JobOutputSerializer
from humanbeauty.api import ErrorSerializer, IsAdminOrResearcher, IsPlatformAdmin
from humanbeauty.bounds import bound_kwargs
from humanbeauty.errors import ApplicationError, ConflictError, NotFoundError

from . import downloads, selectors
from .models import RELEASE_BOUNDS, Release, Source
from .services.filtering import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, filter_start, filter_summary
from .services.releases import release_create, release_preview
from .services.sources import source_import_start, source_register


def _source_or_404(key: str) -> Source:
    source = selectors.source_get(key=key)
    if source is None:
        raise NotFoundError(f"No source {key!r}.")
    return source


def _release_or_404(version: str) -> Release:
    release = selectors.release_get(version=version)
    if release is None:
        raise NotFoundError(f"No release {version!r}.")
    return release


def _published_dir(release: Release) -> Path:
    if not release.is_published or not release.path:
        raise ConflictError(
            f"Release {release.version} is {release.status}; only published releases are served."
        )
    return Path(release.path)


class SourceOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    importer = serializers.CharField()
    root = serializers.CharField()
    kind = serializers.CharField()
    score_min = serializers.FloatField()
    score_max = serializers.FloatField()
    n_items = serializers.IntegerField()
    n_kept = serializers.IntegerField()
    n_scored = serializers.IntegerField()
    normalisation = serializers.JSONField()


class SourceListApi(APIView):
    """Registered public sources (admins). POST registers a folder and starts its import job."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        key = serializers.SlugField(max_length=64)
        importer = serializers.CharField(max_length=64)
        root = serializers.CharField(max_length=1000)
        name = serializers.CharField(max_length=200, required=False, default="")
        options = serializers.JSONField(required=False, default=dict)

    class OutputSerializer(serializers.Serializer):
        source = SourceOutputSerializer()
        job = JobOutputSerializer()

    @extend_schema(responses={200: SourceOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(SourceOutputSerializer(selectors.source_list(), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = source_register(**data.validated_data, created_by=request.user)
        job = source_import_start(source=source, created_by=request.user)
        job.refresh_from_db()
        body = {"source": selectors.source_get(key=source.key), "job": job}
        return Response(self.OutputSerializer(body).data, status=201)


class SourceDetailApi(APIView):
    permission_classes = [IsPlatformAdmin]

    class OutputSerializer(SourceOutputSerializer):
        filter = serializers.JSONField()
        jobs = JobOutputSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, key: str) -> Response:
        source = _source_or_404(key)
        source.filter = filter_summary(source=source)
        source.jobs = selectors.source_jobs(source=source)
        return Response(self.OutputSerializer(source).data)


class SourceImportApi(APIView):
    """Re-import a source's folder (idempotent: only new or changed rows are written)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={202: JobOutputSerializer, 404: ErrorSerializer})
    def post(self, request: Request, key: str) -> Response:
        job = source_import_start(source=_source_or_404(key), created_by=request.user)
        job.refresh_from_db()
        return Response(JobOutputSerializer(job).data, status=202)


class SourceFilterApi(APIView):
    """Start the RetinaFace filter job over a source (only images without a result are processed)."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        confidence = serializers.FloatField(required=False, default=0.9, min_value=0.01, max_value=0.99)
        min_face_size_px = serializers.FloatField(
            required=False, default=32.0, min_value=0.0, max_value=4096.0
        )
        face_mode = serializers.ChoiceField(
            choices=["platform", "paper"],
            required=False,
            default="platform",
            help_text="platform: second faces under min_face_size_px are ignored; paper: any confident second "
            "face rejects the image.",
        )
        chunk_size = serializers.IntegerField(
            required=False, default=DEFAULT_CHUNK_SIZE, min_value=1, max_value=MAX_CHUNK_SIZE
        )

    @extend_schema(
        request=InputSerializer,
        responses={202: JobOutputSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def post(self, request: Request, key: str) -> Response:
        source = _source_or_404(key)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = filter_start(source_keys=[source.key], created_by=request.user, **data.validated_data)
        job.refresh_from_db()
        return Response(JobOutputSerializer(job).data, status=202)


class ReleaseOutputSerializer(serializers.Serializer):
    version = serializers.CharField()
    name = serializers.CharField()
    standard = serializers.SerializerMethodField(help_text="Key of the standard the release publishes.")
    status = serializers.CharField()
    release_sha256 = serializers.CharField()
    split_salt = serializers.CharField()
    test_fraction = serializers.FloatField()
    level_rule = serializers.CharField()
    content_date = serializers.CharField()
    notes = serializers.CharField()
    counts = serializers.JSONField()
    diff_counts = serializers.JSONField()
    previous = serializers.CharField(source="previous.version", allow_null=True, default=None)
    job_id = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    published_at = serializers.DateTimeField(allow_null=True)

    def get_standard(self, release: Release) -> str:
        return selectors.release_standard_key(release)


class ReleaseListApi(APIView):
    """Releases, newest version first (admins and researchers). POST starts a release build job (admins
    only); a release without changes since the latest published one is refused (409) unless ``force``."""

    def get_permissions(self) -> list:
        return [IsPlatformAdmin()] if self.request.method == "POST" else [IsAdminOrResearcher()]

    class InputSerializer(serializers.Serializer):
        version = serializers.CharField(max_length=64)
        notes = serializers.CharField(required=False, default="", allow_blank=True, max_length=10000)
        content_date = serializers.RegexField(
            r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", required=False, default="", allow_blank=True
        )
        split_salt = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
        test_fraction = serializers.FloatField(
            required=False, default=0.1, **bound_kwargs(RELEASE_BOUNDS)["test_fraction"]
        )
        level_rule = serializers.ChoiceField(
            choices=Release.LevelRule.choices, required=False, default=Release.LevelRule.LOWER_INCLUSIVE
        )
        force = serializers.BooleanField(required=False, default=False)
        standard_key = serializers.SlugField(
            max_length=64,
            required=False,
            default="",
            allow_blank=True,
            help_text="Empty: the default standard.",
        )

    @extend_schema(responses={200: ReleaseOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ReleaseOutputSerializer(selectors.release_list(), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={202: ReleaseOutputSerializer, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        release = release_create(created_by=request.user, **data.validated_data)
        return Response(
            ReleaseOutputSerializer(selectors.release_get(version=release.version)).data, status=202
        )


def _with_from_field(fields: dict[str, serializers.Field]) -> dict[str, serializers.Field]:
    """Publish the ``from_`` field as ``from`` (a Python keyword cannot name a declared field); renamed in
    ``get_fields`` so the OpenAPI schema and the response agree."""
    fields["from"] = fields.pop("from_")
    return fields


class ReleasePreviewApi(APIView):
    """What a release built now would change against the latest published one (admins): added, removed,
    relabelled counts and ids (first 200), images per part, images left out below the minimum ratings."""

    permission_classes = [IsPlatformAdmin]

    class OutputSerializer(serializers.Serializer):
        standard_key = serializers.CharField()
        from_ = serializers.CharField(allow_null=True)
        changed = serializers.BooleanField()
        level_rule_changed = serializers.BooleanField()
        summary = serializers.JSONField()
        per_part = serializers.JSONField()
        below_minimum = serializers.IntegerField()
        min_ratings = serializers.IntegerField(allow_null=True)
        psi_stale = serializers.BooleanField()
        added = serializers.ListField(child=serializers.CharField())
        removed = serializers.ListField(child=serializers.CharField())
        relabelled = serializers.ListField(child=serializers.CharField())

        def get_fields(self) -> dict[str, serializers.Field]:
            return _with_from_field(super().get_fields())

    @extend_schema(
        parameters=[
            OpenApiParameter("level_rule", OpenApiTypes.STR, required=False),
            OpenApiParameter("standard", OpenApiTypes.STR, required=False, description="Empty: the default."),
        ],
        responses={200: OutputSerializer, 400: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        rule = request.query_params.get("level_rule", Release.LevelRule.LOWER_INCLUSIVE)
        if rule not in Release.LevelRule.values:
            raise ApplicationError(f"level_rule must be one of {', '.join(Release.LevelRule.values)}.")
        standard_key = request.query_params.get("standard", "")
        return Response(
            self.OutputSerializer(release_preview(level_rule=rule, standard_key=standard_key)).data
        )


class ReleaseDetailApi(APIView):
    permission_classes = [IsAdminOrResearcher]

    class OutputSerializer(ReleaseOutputSerializer):
        spec = serializers.JSONField()
        timings = serializers.JSONField()
        files = serializers.DictField(child=serializers.CharField(), help_text="Top-level files and folders.")

    @extend_schema(responses={200: OutputSerializer, 404: ErrorSerializer})
    def get(self, request: Request, version: str) -> Response:
        release = _release_or_404(version)
        files: dict[str, str] = {}
        if release.is_published and release.path:
            for rel in [*downloads.release_manifest(Path(release.path)), *downloads.EXTRA_FILES]:
                top = rel.split("/", 1)[0]
                files[top if "/" not in rel else top + "/"] = ""
        release.files = dict(sorted(files.items()))
        return Response(self.OutputSerializer(release).data)


class ReleaseCardApi(APIView):
    """The dataset card (README.md: HF YAML header + Datasheet) as text, and the stats plot paths."""

    permission_classes = [IsAdminOrResearcher]

    class OutputSerializer(serializers.Serializer):
        version = serializers.CharField()
        markdown = serializers.CharField()
        plots = serializers.ListField(child=serializers.CharField())
        stats = serializers.JSONField()

    @extend_schema(responses={200: OutputSerializer, 404: ErrorSerializer, 409: ErrorSerializer})
    def get(self, request: Request, version: str) -> Response:
        release = _release_or_404(version)
        root = _published_dir(release)
        body = {
            "version": release.version,
            "markdown": (root / "README.md").read_text(encoding="utf-8"),
            "plots": sorted(
                p for p in downloads.release_manifest(root) if p.startswith("stats/") and p.endswith(".png")
            ),
            "stats": _release_counts(root),
        }
        return Response(self.OutputSerializer(body).data)


def _release_counts(root) -> dict:
    """The image counts of a published release: stats/stats.json (HumanBeauty's layout), else release.json
    (another standard's layout has no stats folder)."""
    stats = root / "stats" / "stats.json"
    path = stats if stats.is_file() else root / "release.json"
    return json.loads(path.read_text(encoding="utf-8")).get("counts", {})


class ReleaseCompareApi(APIView):
    """Differences between two releases: added/removed/relabelled/split-moved image ids and counts."""

    permission_classes = [IsAdminOrResearcher]

    class OutputSerializer(serializers.Serializer):
        from_ = serializers.CharField()
        to = serializers.CharField()
        counts = serializers.JSONField()
        summary = serializers.JSONField()
        added = serializers.ListField(child=serializers.CharField())
        removed = serializers.ListField(child=serializers.CharField())
        relabelled = serializers.ListField(child=serializers.CharField())
        split_moved = serializers.ListField(child=serializers.CharField())

        def get_fields(self) -> dict[str, serializers.Field]:
            return _with_from_field(super().get_fields())

    @extend_schema(responses={200: OutputSerializer, 400: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, version: str, other: str) -> Response:
        a, b = _release_or_404(version), _release_or_404(other)
        return Response(self.OutputSerializer(selectors.release_compare(a=a, b=b)).data)


class _AnyAccept(BaseContentNegotiation):
    """File downloads answer whatever the client accepts (``Accept: application/octet-stream`` included);
    errors still render as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ReleaseFileApi(APIView):
    """Download one file of a published release (any path listed in SHA256SUMS). Resumable: honours a
    single ``Range: bytes=…`` (206 + Content-Range), ``If-Range`` with the ETag (= the file's SHA-256);
    416 for an unsatisfiable range."""

    permission_classes = [IsAdminOrResearcher]
    content_negotiation_class = _AnyAccept

    @extend_schema(
        parameters=[OpenApiParameter("Range", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False)],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="whole file"),
            (206, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="one range"),
            404: ErrorSerializer,
            409: ErrorSerializer,
            416: OpenApiResponse(description="range not satisfiable"),
        },
    )
    def get(self, request: Request, version: str, path: str) -> HttpResponse:
        root = _published_dir(_release_or_404(version))
        found = downloads.resolve_release_file(root, path)
        if found is None:
            raise NotFoundError(f"{path!r} is not a file of release {version}.")
        full, sha = found
        return downloads.file_response(request, full, sha, download_name=full.name)


class ReleaseArchiveApi(APIView):
    """The whole published release as one streamed tar (hard-linked image copies stored once)."""

    permission_classes = [IsAdminOrResearcher]
    content_negotiation_class = _AnyAccept

    @extend_schema(
        responses={
            (200, "application/x-tar"): OpenApiResponse(OpenApiTypes.BINARY, description="tar stream"),
            404: ErrorSerializer,
            409: ErrorSerializer,
        }
    )
    def get(self, request: Request, version: str) -> HttpResponse:
        release = _release_or_404(version)
        return downloads.tar_response(_published_dir(release), release.version)
