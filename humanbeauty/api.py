"""API plumbing shared by every app: one error format and role-based permissions.

Every API error, whether raised by DRF (validation, auth, throttling), by Django (404, permission) or by
a service (:class:`ApplicationError`), answers with the same body::

    {"message": "human-readable summary", "extra": {"fields": {...}} | {...}}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from .errors import ApplicationError

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
    else:
        detail = getattr(exc, "detail", str(exc))
        body = {"message": str(detail), "extra": {}}
    response.data = body
    return response


# The one error body, for ``extend_schema(responses={400: ErrorSerializer, ...})`` in every app.
ErrorSerializer = inline_serializer(
    "Error", {"message": serializers.CharField(), "extra": serializers.DictField()}
)


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
    "exception_handler",
    "role_permission",
    "status",
]


class AutoSchema(SpectacularAutoSchema):
    """Name nested ``InputSerializer``/``OutputSerializer`` components after their view (HackSoft style
    nests them, and otherwise every view's "Input" would collide in the OpenAPI components)."""

    def _get_serializer_name(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        qualname = cls.__qualname__
        if "." in qualname and "<locals>" not in qualname:
            outer = qualname.rsplit(".", 1)[0].replace(".", "")
            name = outer.removesuffix("Api") + name
        return name


# Errors raised outside a DRF view (an unknown /api/ URL, a request Django refuses before any view, a crash
# in middleware) go through Django's handlers: under /api/ they answer with the same JSON shape too.
_DJANGO_ERRORS = {
    400: "Bad request.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: INTERNAL_ERROR,
}


def _api_or_page(status_code: int, page: Any) -> Any:
    def handler(request: Any, exception: Exception | None = None) -> Any:
        if request.path.startswith("/api/"):
            return JsonResponse({"message": _DJANGO_ERRORS[status_code], "extra": {}}, status=status_code)
        return page(request) if status_code == 500 else page(request, exception)

    return handler


def django_error_handlers() -> dict[str, Any]:
    from django.views import defaults

    return {
        "handler400": _api_or_page(400, defaults.bad_request),
        "handler403": _api_or_page(403, defaults.permission_denied),
        "handler404": _api_or_page(404, defaults.page_not_found),
        "handler500": _api_or_page(500, defaults.server_error),
    }
