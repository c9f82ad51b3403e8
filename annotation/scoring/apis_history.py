"""The rater's own recent ratings and workspace progress; amending one's own rating within the window."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from humanbeauty.api import IsVolunteer

from . import history
from .services.amend import rating_amend


class HistoryItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.CharField()
    thumb_url = serializers.CharField()
    image_url = serializers.CharField()
    scores = serializers.DictField(child=serializers.FloatField(allow_null=True))
    created_at = serializers.DateTimeField()
    amendable_until = serializers.DateTimeField()
    amendable = serializers.BooleanField()


class ProgressSerializer(serializers.Serializer):
    session = serializers.IntegerField(help_text="Ratings in the current working session (no 30-minute gap).")
    session_goal = serializers.IntegerField()
    total = serializers.IntegerField()
    pool_total = serializers.IntegerField(help_text="Images in the pools of active campaigns.")
    pool_complete = serializers.IntegerField()
    amend_window_s = serializers.IntegerField(
        help_text="How long after submitting a rating it can be changed."
    )


class RatingHistoryApi(APIView):
    """My most recent ratings (newest first) and my progress; each rating says until when it can be changed."""

    permission_classes = [IsVolunteer]

    class OutputSerializer(serializers.Serializer):
        items = HistoryItemSerializer(many=True)
        progress = ProgressSerializer()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        limit = min(max(int(request.query_params.get("limit") or 8), 1), 50)
        out = {
            "items": history.rater_history(rater=request.user, limit=limit),
            "progress": history.rater_workspace_progress(rater=request.user),
        }
        return Response(self.OutputSerializer(out).data)


class RatingAmendApi(APIView):
    """Change the scores of one of my own ratings while its window is open (409 after; 404 if not mine)."""

    permission_classes = [IsVolunteer]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        scores = serializers.JSONField()
        comments = serializers.JSONField(required=False, default=None)

    class OutputSerializer(serializers.Serializer):
        image = serializers.CharField(source="image_id")
        scores = serializers.DictField(child=serializers.FloatField(allow_null=True))
        created_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def patch(self, request: Request, rating_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        receipt = rating_amend(rater=request.user, rating_id=rating_id, **data.validated_data)
        return Response(self.OutputSerializer(asdict(receipt)).data)
