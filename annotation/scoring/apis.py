"""Collection and scoring API (mounted at /api/scoring/). One thin APIView per operation: nested Input/Output
serializers, reads through selectors, writes through services. Errors are ``{message, extra}``."""

from __future__ import annotations

from dataclasses import asdict

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Standard, User
from annotation.selectors import default_standard_key
from humanbeauty.api import IsPlatformAdmin, IsVolunteer, NonBlankSlugRelatedField, role_permission
from humanbeauty.bounds import bound_kwargs
from humanbeauty.errors import ApplicationError, NotFoundError

from . import config, selectors
from .models import CAMPAIGN_BOUNDS, Campaign, Skip, Submission
from .services import aggregation as aggregation_services
from .services import collection, queue, ratings

IsAdminOrVolunteer = role_permission("admin", "volunteer")
IsAdminOrResearcher = role_permission("admin", "researcher")


def _image_urls(sha: str) -> dict[str, str]:
    return {
        "image_url": reverse("annotation:image-file", kwargs={"sha256": sha}),
        "thumb_url": reverse("annotation:image-thumb", kwargs={"sha256": sha}),
    }


# ----------------------------------------------------------------------------- campaigns


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    principles = serializers.CharField()
    principle_list = serializers.ListField(child=serializers.CharField())
    target_count = serializers.IntegerField()
    deadline = serializers.DateTimeField(allow_null=True)
    standard = serializers.CharField(source="standard.key")
    ratings_target = serializers.IntegerField()
    min_ratings = serializers.IntegerField(source="standard.min_ratings", help_text="The standard's minimum.")
    ratings_step = serializers.IntegerField()
    ratings_cap = serializers.IntegerField()
    max_ci_half_width = serializers.FloatField()
    is_active = serializers.BooleanField()
    volunteers = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_volunteers(self, obj: Campaign) -> list[str]:
        return [u.username for u in obj.volunteers.all()]


class _CampaignFields(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    principles = serializers.CharField()
    target_count = serializers.IntegerField(**bound_kwargs(CAMPAIGN_BOUNDS)["target_count"])
    deadline = serializers.DateTimeField(required=False, allow_null=True)
    standard = serializers.SlugRelatedField(slug_field="key", queryset=Standard.objects.all(), required=False)
    ratings_target = serializers.IntegerField(
        **bound_kwargs(CAMPAIGN_BOUNDS)["ratings_target"], required=False
    )
    ratings_step = serializers.IntegerField(**bound_kwargs(CAMPAIGN_BOUNDS)["ratings_step"], required=False)
    ratings_cap = serializers.IntegerField(**bound_kwargs(CAMPAIGN_BOUNDS)["ratings_cap"], required=False)
    max_ci_half_width = serializers.FloatField(
        **bound_kwargs(CAMPAIGN_BOUNDS)["max_ci_half_width"], required=False
    )
    is_active = serializers.BooleanField(required=False)
    volunteers = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(role=User.Role.VOLUNTEER),
        many=True,
        required=False,
    )


class CampaignListApi(APIView):
    def get_permissions(self) -> list:
        return [IsPlatformAdmin()] if self.request.method == "POST" else [IsAdminOrVolunteer()]

    class InputSerializer(_CampaignFields):
        pass

    @extend_schema(responses={200: CampaignOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(CampaignOutputSerializer(selectors.campaign_list(user=request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CampaignOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        volunteers = fields.pop("volunteers", None)
        campaign = collection.campaign_create(created_by=request.user, volunteers=volunteers, **fields)
        return Response(CampaignOutputSerializer(campaign).data, status=201)


class CampaignDetailApi(APIView):
    def get_permissions(self) -> list:
        return [IsPlatformAdmin()] if self.request.method == "PATCH" else [IsAdminOrVolunteer()]

    class InputSerializer(_CampaignFields):
        pass

    @extend_schema(responses={200: CampaignOutputSerializer})
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
        if campaign is None:
            raise NotFoundError("No such campaign.")
        return Response(CampaignOutputSerializer(campaign).data)

    @extend_schema(request=InputSerializer, responses={200: CampaignOutputSerializer})
    def patch(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
        if campaign is None:
            raise NotFoundError("No such campaign.")
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        volunteers = fields.pop("volunteers", None)
        campaign = collection.campaign_update(campaign=campaign, volunteers=volunteers, **fields)
        return Response(CampaignOutputSerializer(campaign).data)


# ----------------------------------------------------------------------------- submissions


class SubmissionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.IntegerField(source="campaign_id")
    submitter = serializers.CharField(source="submitter.username")
    status = serializers.CharField()
    source_url = serializers.URLField()
    checks = serializers.ListField(child=serializers.DictField())
    faces = serializers.ListField(child=serializers.DictField())
    image_width = serializers.IntegerField(allow_null=True)
    image_height = serializers.IntegerField(allow_null=True)
    image = serializers.CharField(source="image_id", allow_null=True)
    image_url = serializers.SerializerMethodField()
    job = serializers.IntegerField(source="job_id", allow_null=True)
    reviewer = serializers.CharField(source="reviewer.username", allow_null=True, default=None)
    review_reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_image_url(self, obj: Submission) -> str | None:
        return _image_urls(obj.image_id)["image_url"] if obj.image_id else None


class SubmissionCreateApi(APIView):
    """Upload one image to a campaign (multipart: file, source_url, attestation); checks run as a job."""

    permission_classes = [IsVolunteer]
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        source_url = serializers.URLField(max_length=500)
        attestation = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses={201: SubmissionOutputSerializer})
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
        if campaign is None:
            raise NotFoundError("No such campaign (or you are not assigned to it).")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = collection.submission_create(
            campaign=campaign,
            submitter=request.user,
            data=data.validated_data["file"].read(),
            source_url=data.validated_data["source_url"],
            attestation=data.validated_data["attestation"],
        )
        submission.refresh_from_db()
        return Response(SubmissionOutputSerializer(submission).data, status=201)


class SubmissionListApi(APIView):
    """Volunteers see their own submissions; admins all (filter by ``status``, ``campaign``)."""

    permission_classes = [IsAdminOrVolunteer]

    @extend_schema(responses={200: SubmissionOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        campaign = request.query_params.get("campaign")
        qs = selectors.submission_list(
            user=request.user,
            status=request.query_params.get("status") or None,
            campaign_id=int(campaign) if campaign and campaign.isdigit() else None,
        )
        return Response(SubmissionOutputSerializer(qs[:500], many=True).data)


class SubmissionDetailApi(APIView):
    permission_classes = [IsAdminOrVolunteer]

    @extend_schema(responses={200: SubmissionOutputSerializer})
    def get(self, request: Request, submission_id: int) -> Response:
        submission = selectors.submission_get(user=request.user, submission_id=submission_id)
        if submission is None:
            raise NotFoundError("No such submission.")
        return Response(SubmissionOutputSerializer(submission).data)


class SubmissionReviewApi(APIView):
    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["approve", "reject"])
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={200: SubmissionOutputSerializer})
    def post(self, request: Request, submission_id: int) -> Response:
        submission = selectors.submission_get(user=request.user, submission_id=submission_id)
        if submission is None:
            raise NotFoundError("No such submission.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = collection.submission_review(
            submission=submission,
            reviewer=request.user,
            approve=data.validated_data["decision"] == "approve",
            reason=data.validated_data["reason"],
        )
        return Response(
            SubmissionOutputSerializer(
                selectors.submission_get(user=request.user, submission_id=submission.pk)
            ).data
        )


class SubmissionReviewUndoApi(APIView):
    """Revert a review decision within the undo window while nothing depends on it (409 says why not)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={200: SubmissionOutputSerializer})
    def post(self, request: Request, submission_id: int) -> Response:
        submission = selectors.submission_get(user=request.user, submission_id=submission_id)
        if submission is None:
            raise NotFoundError("No such submission.")
        submission = collection.submission_review_undo(submission=submission, user=request.user)
        return Response(
            SubmissionOutputSerializer(
                selectors.submission_get(user=request.user, submission_id=submission.pk)
            ).data
        )


# ----------------------------------------------------------------------------- scoring queue


class QueueItemOutputSerializer(serializers.Serializer):
    """The same fields for every item, pool or hidden gold; nothing about other raters or model scores."""

    image = serializers.CharField(source="image.sha256")
    image_url = serializers.CharField()
    thumb_url = serializers.CharField()
    width = serializers.IntegerField(source="image.width")
    height = serializers.IntegerField(source="image.height")
    standard = serializers.CharField(source="standard.key")
    expires_at = serializers.DateTimeField()
    lease_ttl_s = serializers.IntegerField()


def _queue_item_data(item: queue.QueueItem | None) -> dict:
    if item is None:
        return {"item": None, "message": "Nothing left to score right now. Thank you!"}
    payload = {
        "image": item.image,
        "standard": item.standard,
        "expires_at": item.expires_at,
        "lease_ttl_s": config.lease_ttl_s(),
        **_image_urls(item.image.sha256),
    }
    return {"item": QueueItemOutputSerializer(payload).data, "message": ""}


class NextImageApi(APIView):
    """Lease the next image to score (the rater's current lease if any); ``item`` is null when none is left."""

    permission_classes = [IsVolunteer]

    class OutputSerializer(serializers.Serializer):
        item = QueueItemOutputSerializer(allow_null=True)
        message = serializers.CharField()

    @extend_schema(request=None, responses={200: OutputSerializer})
    def post(self, request: Request) -> Response:
        return Response(_queue_item_data(queue.next_image(rater=request.user)))


class LeaseHeartbeatApi(APIView):
    permission_classes = [IsVolunteer]

    class OutputSerializer(serializers.Serializer):
        expires_at = serializers.DateTimeField()

    @extend_schema(request=None, responses={200: OutputSerializer})
    def post(self, request: Request) -> Response:
        return Response(self.OutputSerializer({"expires_at": queue.lease_heartbeat(rater=request.user)}).data)


class LeaseSkipApi(APIView):
    """Give the current image back: ``skip``, ``cant_judge`` (the whole image) or ``report`` (with a note)."""

    permission_classes = [IsVolunteer]

    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(
            choices=[Skip.Reason.SKIP, Skip.Reason.CANT_JUDGE, Skip.Reason.REPORT], default=Skip.Reason.SKIP
        )
        note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        queue.lease_skip(
            rater=request.user, reason=data.validated_data["reason"], note=data.validated_data["note"]
        )
        return Response(status=204)


class RatingSubmitApi(APIView):
    """Submit scores for the leased image. Repeating a submission returns the stored rating (200)."""

    permission_classes = [IsVolunteer]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        image = serializers.CharField(max_length=64)
        scores = serializers.JSONField()
        comments = serializers.JSONField(required=False, default=None)
        reported = serializers.BooleanField(required=False, default=False)
        report_reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
        dwell_ms = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=86_400_000
        )
        next = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Also lease the next image and return it as `next` (one round trip per image).",
        )

    class OutputSerializer(serializers.Serializer):
        image = serializers.CharField(source="image_id")
        scores = serializers.DictField(child=serializers.FloatField(allow_null=True))
        reported = serializers.BooleanField()
        created_at = serializers.DateTimeField()
        created = serializers.BooleanField()
        next = NextImageApi.OutputSerializer(
            required=False, help_text="Present when `next` was requested: the next image, as from /next/."
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        fields = {
            "rater": request.user,
            "image_sha256": v["image"],
            "scores": v["scores"],
            "comments": v.get("comments"),
            "reported": v["reported"],
            "report_reason": v["report_reason"],
            "dwell_ms": v.get("dwell_ms"),
        }
        if v["next"]:
            receipt, item = queue.rating_submit_then_next(**fields)
        else:
            receipt, item = ratings.rating_submit(**fields), None
        out = self.OutputSerializer(asdict(receipt)).data
        if v["next"]:
            out["next"] = _queue_item_data(item)  # already serialized
        return Response(out, status=201 if receipt.created else 200)


class SessionProgressApi(APIView):
    permission_classes = [IsVolunteer]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(selectors.rater_session_progress(rater=request.user))


# ----------------------------------------------------------------------------- results


class ProgressApi(APIView):
    permission_classes = [IsAdminOrResearcher]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(selectors.scoring_progress())


class ImageAggregateApi(APIView):
    permission_classes = [IsAdminOrResearcher]

    class OutputSerializer(serializers.Serializer):
        image = serializers.CharField(source="image_id")
        standard = serializers.CharField(source="standard.key")
        n_ratings = serializers.IntegerField()
        dimensions = serializers.SerializerMethodField()
        max_ci_half_width = serializers.FloatField(allow_null=True)
        updated_at = serializers.DateTimeField()

        def get_dimensions(self, obj) -> list[dict]:
            keys = list(obj.standard.dimensions.order_by("order").values_list("key", flat=True))

            def at(values: list, i: int) -> object:
                return values[i] if i < len(values) else None

            return [
                {
                    "key": k,
                    "mos": at(obj.mos, i),
                    "sd": at(obj.sd, i),
                    "n": at(obj.n, i),
                    "ci_half_width": at(obj.ci_half_width, i),
                    "psi": at(obj.psi, i),
                    "psi_se": at(obj.psi_se, i),
                    "psi_ci_half_width": at(obj.psi_ci_half_width, i),
                }
                for i, k in enumerate(keys)
            ]

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, sha256: str) -> Response:
        agg = selectors.image_aggregate_get(sha256=sha256)
        if agg is None:
            raise NotFoundError("No aggregate for this image yet (not complete).")
        return Response(self.OutputSerializer(agg).data)


class ReaggregateApi(APIView):
    """Start the full re-aggregation job (``scoring.reaggregate``) for a standard."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        standard = NonBlankSlugRelatedField(slug_field="key", queryset=Standard.objects.all(), required=False)

    class OutputSerializer(serializers.Serializer):
        job = serializers.IntegerField(source="pk")
        status = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        standard = (
            data.validated_data.get("standard") or Standard.objects.filter(key=default_standard_key()).first()
        )
        if standard is None:
            raise ApplicationError("standard: no such standard.")
        job = aggregation_services.scoring_reaggregate_start(standard=standard, created_by=request.user)
        job.refresh_from_db()
        return Response(self.OutputSerializer(job).data, status=202)


class RaterQualityApi(APIView):
    permission_classes = [IsPlatformAdmin]

    class OutputSerializer(serializers.Serializer):
        rater = serializers.CharField(source="rater.username")
        standard = serializers.CharField(source="standard.key")
        n_ratings = serializers.IntegerField()
        mean_delta = serializers.FloatField(allow_null=True)
        mean_upsilon = serializers.FloatField(allow_null=True)
        mean_loo_srcc = serializers.FloatField(allow_null=True)
        gold_error = serializers.FloatField(allow_null=True)
        delta = serializers.ListField(child=serializers.FloatField(allow_null=True))
        upsilon = serializers.ListField(child=serializers.FloatField(allow_null=True))
        loo_srcc = serializers.ListField(child=serializers.FloatField(allow_null=True))
        flagged = serializers.BooleanField()
        flags = serializers.ListField(
            child=serializers.CharField(), help_text="One reason per rule that fired."
        )
        screening = serializers.JSONField(help_text="Per rule: value, threshold, fired; and the pattern.")

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.rater_quality_list(), many=True).data)


class ReportLatestApi(APIView):
    """The latest aggregation run: reliability per dimension and the screening summary."""

    permission_classes = [IsAdminOrResearcher]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        standard = serializers.CharField(source="standard.key")
        n_images = serializers.IntegerField()
        n_raters = serializers.IntegerField()
        n_ratings = serializers.IntegerField()
        reliability = serializers.DictField()
        screening = serializers.DictField()
        seconds = serializers.FloatField()
        created_at = serializers.DateTimeField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        run = selectors.aggregation_run_latest()
        if run is None:
            raise NotFoundError("No aggregation run yet.")
        return Response(self.OutputSerializer(run).data)
