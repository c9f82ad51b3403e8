"""The domain's one exception type: services raise it, the API handler maps it to ``{message, extra}``."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A user-facing error from business logic. ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.status = status


class NotFoundError(ApplicationError):
    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=extra, status=404)


class ConflictError(ApplicationError):
    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=extra, status=409)
