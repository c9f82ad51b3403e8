"""API plumbing shared by every app: one error format and role-based permissions.

Every API error, whether raised by DRF (validation, auth, throttling), by Django (404, permission) or by
a service (:class:`ApplicationError`), answers with the same body::

    {"message": "human-readable summary", "extra": {"fields": {...}} | {...}}
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from .errors import ApplicationError

if TYPE_CHECKING:
    from .security import LoginRefusal

logger = logging.getLogger(__name__)
INTERNAL_ERROR = "Internal error: the server could not complete this request; nothing was changed by it."


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if key == "non_field_errors" else f"{key}: {inner}"
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:  # not an API exception: still the one error shape, never an HTML page
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        set_rollback()
        return Response({"message": INTERNAL_ERROR, "extra": {}}, status=500)
    if isinstance(exc, exceptions.ValidationError):
        body = {"message": _first_message(exc.detail), "extra": {"fields": exc.detail}}
    elif isinstance(exc, exceptions.Throttled):
        extra = {"code": "throttled", "retry_after": exc.wait and int(exc.wait)}
        body = {"message": str(exc.detail), "extra": {**extra, **getattr(exc, "extra", {})}}
    else:
        detail = getattr(exc, "detail", str(exc))
        body = {"message": str(detail), "extra": {}}
    response.data = body
    return response


# The one error body, for ``extend_schema(responses={400: ErrorSerializer, ...})`` in every app.
ErrorSerializer = inline_serializer(
    "Error", {"message": serializers.CharField(), "extra": serializers.DictField()}
)


def paginated(serializer: type[serializers.Serializer], name: str) -> Any:
    """The schema of a ``LimitOffsetPagination`` page of ``serializer`` items (for ``extend_schema``)."""
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )


class _BlankIsAValue:
    """DRF treats an empty form value of an optional field as "not sent" (then the default applies, e.g.
    the active model version). For fields where that would silently pick something, an empty value
    sent on purpose is refused like any other invalid value."""

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)  # type: ignore[misc]
        if value is serializers.empty and dictionary.get(self.field_name, None) == "":  # type: ignore[attr-defined]
            return ""
        return value


class NonBlankSlugField(_BlankIsAValue, serializers.SlugField):
    pass


class NonBlankSlugRelatedField(_BlankIsAValue, serializers.SlugRelatedField):
    pass


class LoginThrottled(exceptions.Throttled):
    """429 for a sign-in refused by the password-guessing limits (``humanbeauty.security``)."""

    def __init__(self, refusal: LoginRefusal) -> None:
        super().__init__(wait=refusal.retry_after, detail=refusal.message)
        self.extra = {"scope": refusal.scope}


@csrf_exempt  # a POST to an unknown path is a 404, not a CSRF failure page
def api_not_found(request: Any, *args: Any, **kwargs: Any) -> Any:
    """Any ``/api/`` path no route matches (``/api/jobs/null/``): the JSON 404 every other API error has."""
    from django.urls import Resolver404, resolve

    extra: dict[str, str] = {}
    if not request.path.endswith("/"):
        try:
            if resolve(request.path + "/").func is not api_not_found:
                extra["did_you_mean"] = request.path + "/"
        except Resolver404:
            pass
    message = f"No API endpoint at {request.path}." + (" The path ends with a slash." if extra else "")
    return JsonResponse({"message": message, "extra": extra}, status=404)


# Errors raised outside a DRF view (a request Django refuses before any view, a crash in middleware) go
# through Django's handlers: under /api/ they answer with the same JSON shape too.
_DJANGO_ERRORS = {
    400: "Bad request.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: INTERNAL_ERROR,
}


def api_aware_handler(status_code: int, page_handler: Any) -> Any:
    """Django's error handlers (400/403/404/500 outside DRF views), answering ``/api/`` paths in JSON."""

    def handler(request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.path.startswith("/api/"):
            return JsonResponse({"message": _DJANGO_ERRORS[status_code], "extra": {}}, status=status_code)
        return page_handler(request, *args, **kwargs)

    return handler


class HasRole(permissions.BasePermission):
    """Allow authenticated users whose role is one of ``roles`` (Django superusers always pass)."""

    roles: tuple[str, ...] = ()
    message = "Your role does not allow this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(user.is_superuser or user.role in self.roles)


def role_permission(*roles: str) -> type[HasRole]:
    """A permission class for the given roles, e.g. ``permission_classes = [role_permission("admin")]``."""
    return type(f"HasRole_{'_'.join(roles)}", (HasRole,), {"roles": roles})


IsVolunteer = role_permission("volunteer")
IsPlatformAdmin = role_permission("admin")
IsResearcher = role_permission("researcher")
IsAdminOrResearcher = role_permission("admin", "researcher")

__all__ = [
    "ApplicationError",
    "ErrorSerializer",
    "HasRole",
    "IsAdminOrResearcher",
    "IsPlatformAdmin",
    "IsResearcher",
    "IsVolunteer",
    "LoginThrottled",
    "NonBlankSlugField",
    "NonBlankSlugRelatedField",
    "exception_handler",
    "paginated",
    "role_permission",
    "status",
]


class AutoSchema(SpectacularAutoSchema):
    """Name nested ``InputSerializer``/``OutputSerializer`` components after their view (HackSoft style
    nests them, and otherwise every view's "Input" would collide in the OpenAPI components), and document
    the errors every operation can answer: 401/403 (authentication, role), 404 (unknown ids in the path),
    400 (bad body or query), 413 (oversized body), 429 (throttled), each with the one error body, and ``default``
    for any other error status (still ``{message, extra}``)."""

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "429"]  # 400: malformed body or query parameters
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")
        for code in [*codes, "default"]:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses

    def _get_serializer_name(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        qualname = cls.__qualname__
        if "." in qualname and "<locals>" not in qualname:
            outer = qualname.rsplit(".", 1)[0].replace(".", "")
            name = outer.removesuffix("Api") + name
        return name
