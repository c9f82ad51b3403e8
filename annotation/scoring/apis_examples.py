"""Per-level example images (admins only), mounted under /api/scoring/examples/. The input serializer is
also the admin page's form validation (frontend/views_examples.py), so both answer the same messages."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Dimension, Image, Standard
from annotation.selectors import default_standard_key
from annotation.standards.humanbeauty import LEVELS
from humanbeauty.api import IsPlatformAdmin
from humanbeauty.errors import NotFoundError

from . import selectors
from .models import LevelExample
from .services import examples


def _urls(sha: str) -> dict[str, str]:
    return {
        "image_url": reverse("annotation:image-file", kwargs={"sha256": sha}),
        "thumb_url": reverse("annotation:image-thumb", kwargs={"sha256": sha}),
    }


class LevelChoiceSerializer(serializers.Serializer):
    """A standard's dimension and a level, named by keys; unknown ones are field errors."""

    standard = serializers.CharField(required=False, default=default_standard_key)
    dimension = serializers.CharField()
    level = serializers.ChoiceField(
        choices=list(LEVELS),
        error_messages={"invalid_choice": f"Unknown level {{input}}: one of {', '.join(LEVELS)}."},
    )

    def validate_standard(self, value: str) -> Standard:
        standard = Standard.objects.filter(key=value).first()
        if standard is None:
            raise serializers.ValidationError(f"Unknown standard {value!r}.")
        return standard

    def validate(self, attrs: dict) -> dict:
        standard = attrs["standard"]
        dimension = (
            Dimension.objects.filter(standard=standard, key=attrs["dimension"])
            .select_related("standard")
            .first()
        )
        if dimension is None:
            keys = ", ".join(standard.dimensions.order_by("order").values_list("key", flat=True))
            raise serializers.ValidationError(
                {"dimension": [f"Unknown dimension {attrs['dimension']!r} of {standard.key}: one of {keys}."]}
            )
        attrs["dimension"] = dimension
        return attrs


class LevelExampleInputSerializer(LevelChoiceSerializer):
    image = serializers.RegexField(
        r"^[0-9a-f]{64}$", error_messages={"invalid": "An image's SHA-256: 64 lowercase hex digits."}
    )

    def validate_image(self, value: str) -> Image:
        image = Image.objects.filter(sha256=value).first()
        if image is None:
            raise serializers.ValidationError("No such image.")
        return image


class LevelExampleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dimension = serializers.CharField(source="dimension.key")
    level = serializers.CharField()
    image = serializers.CharField(source="image_id")
    image_url = serializers.CharField()
    thumb_url = serializers.CharField()
    mos = serializers.FloatField(allow_null=True, help_text="The image's MOS on this dimension.")
    chosen_by = serializers.CharField(source="chosen_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


def example_payload(example: LevelExample, mos: float | None) -> dict:
    return {
        "id": example.pk,
        "dimension": example.dimension,
        "level": example.level,
        "image_id": example.image_id,
        "mos": mos,
        "chosen_by": example.chosen_by,
        "created_at": example.created_at,
        **_urls(example.image_id),
    }


def example_rows(*, standard: Standard, dimension: Dimension | None = None) -> list[dict]:
    rows = list(selectors.level_example_list(standard=standard, dimension=dimension))
    mos: dict[tuple[int, str], float | None] = {}
    for dim in {r.dimension for r in rows}:
        for sha, value in selectors.image_mos_on(
            dimension=dim, shas=[r.image_id for r in rows if r.dimension_id == dim.pk]
        ).items():
            mos[(dim.pk, sha)] = value
    return [example_payload(r, mos.get((r.dimension_id, r.image_id))) for r in rows]


STANDARD_PARAM = OpenApiParameter(
    "standard", str, description="Standard key (default: the platform's default standard)."
)


class LevelExampleListApi(APIView):
    """The chosen examples (GET) and choosing one (POST: an eligible image for a dimension and level)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(parameters=[STANDARD_PARAM], responses={200: LevelExampleOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        key = request.query_params.get("standard") or default_standard_key()
        standard = Standard.objects.filter(key=key).first()
        if standard is None:
            raise NotFoundError(f"No standard {key!r}.")
        return Response(LevelExampleOutputSerializer(example_rows(standard=standard), many=True).data)

    @extend_schema(request=LevelExampleInputSerializer, responses={201: LevelExampleOutputSerializer})
    def post(self, request: Request) -> Response:
        data = LevelExampleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        example = examples.level_example_add(
            dimension=v["dimension"], level=v["level"], image=v["image"], chosen_by=request.user
        )
        mos = selectors.image_mos_on(dimension=example.dimension, shas=[example.image_id]).get(
            example.image_id
        )
        return Response(LevelExampleOutputSerializer(example_payload(example, mos)).data, status=201)


class LevelExampleDetailApi(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, example_id: int) -> Response:
        example = LevelExample.objects.filter(pk=example_id).first()
        if example is None:
            raise NotFoundError("No such example.")
        examples.level_example_remove(example=example)
        return Response(status=204)


class LevelExampleSuggestionsApi(APIView):
    """Eligible images for a dimension and level, the closest MOS to the level's centre first."""

    permission_classes = [IsPlatformAdmin]

    class QuerySerializer(LevelChoiceSerializer):
        limit = serializers.IntegerField(min_value=1, max_value=60, default=12)

    class OutputSerializer(serializers.Serializer):
        image = serializers.CharField()
        image_url = serializers.CharField()
        thumb_url = serializers.CharField()
        mos = serializers.FloatField()
        distance = serializers.FloatField(help_text="|MOS - the level's centre|")
        in_level = serializers.BooleanField(help_text="The MOS lies inside the level's fifth of the range.")

    @extend_schema(parameters=[QuerySerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        rows = selectors.level_example_suggestions(
            dimension=v["dimension"], level=v["level"], limit=v["limit"]
        )
        return Response(self.OutputSerializer([{**r, **_urls(r["image"])} for r in rows], many=True).data)
