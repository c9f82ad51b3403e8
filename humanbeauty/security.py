"""Abuse limits shared by the API and the browser pages: password-guessing throttles and request size.

Password guessing
    Failed sign-ins are counted in the cache (Redis in deployment, so every web process shares the
    counts) in fixed windows of ``HB_LOGIN_WINDOW_SECONDS``, twice: per account (the username tried) and per
    client (its IP address). When either count reaches its limit, further attempts are refused *before*
    the password is checked (no hashing cost, no answer leaked) until the window ends. A correct password
    clears the account's count but not the client's, so a client cannot reset its own budget by signing
    in to an account it owns. Counting failures (not requests) keeps legitimate sign-ins unaffected.

Request size
    :class:`RequestSizeLimitMiddleware` refuses a body whose declared ``Content-Length`` is over the limit
    with 413 before anything reads it: ``HB_REQUEST_MAX_BYTES`` for requests that carry credentials (a
    session cookie or an ``Authorization`` header) and the much smaller ``HB_ANONYMOUS_REQUEST_MAX_BYTES``
    otherwise (sign-in forms and the token endpoint need a few hundred bytes). The reverse proxy and
    gunicorn enforce their own limits in front of it (``deploy/nginx.conf``, ``docker-compose.yml``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind the compose reverse proxy (``HB_BEHIND_PROXY``), the last entry of
    ``X-Forwarded-For`` is the address the proxy saw; earlier entries are the client's own claims."""
    if settings.HB_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "") or "unknown"


@dataclass(frozen=True)
class LoginRefusal:
    """Why a sign-in attempt is refused without checking the password, and for how long."""

    scope: str  # "account" or "client"
    retry_after: int  # seconds until the window ends

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        who = "this account" if self.scope == "account" else "your network address"
        return (
            f"Too many failed sign-ins for {who}. Try again in {minutes} minute{'s' * (minutes != 1)}, "
            "or ask an administrator to reset your password."
        )


def _window() -> tuple[int, int]:
    size = settings.HB_LOGIN_WINDOW_SECONDS
    now = int(time.time())
    start = now - now % size
    return start, start + size - now


def _keys(username: str, ip: str) -> dict[str, str]:
    start, _ = _window()
    return {
        "account": f"hb:login-fail:account:{start}:{username.strip().casefold()[:150]}",
        "client": f"hb:login-fail:client:{start}:{ip}",
    }


def _limits() -> dict[str, int]:
    return {
        "account": settings.HB_LOGIN_MAX_FAILURES_PER_ACCOUNT,
        "client": settings.HB_LOGIN_MAX_FAILURES_PER_CLIENT,
    }


def login_refusal(*, username: str, ip: str) -> LoginRefusal | None:
    """The refusal for this attempt, or None when it may go ahead (one cache round trip)."""
    keys = _keys(username, ip)
    counts = cache.get_many(list(keys.values()))
    limits = _limits()
    for scope, key in keys.items():
        if counts.get(key, 0) >= limits[scope]:
            return LoginRefusal(scope=scope, retry_after=_window()[1])
    return None


def login_failed(*, username: str, ip: str) -> None:
    timeout = settings.HB_LOGIN_WINDOW_SECONDS + 5
    for key in _keys(username, ip).values():
        # add() is a no-op when the key exists; incr() is atomic on Redis.
        cache.add(key, 0, timeout=timeout)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=timeout)


def login_succeeded(*, username: str) -> None:
    cache.delete(_keys(username, "")["account"])


class RequestSizeLimitMiddleware:
    """413 for bodies over the limit, decided from ``Content-Length`` before the body is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        has_credentials = bool(
            request.META.get("HTTP_AUTHORIZATION") or settings.SESSION_COOKIE_NAME in request.COOKIES
        )
        limit = settings.HB_REQUEST_MAX_BYTES if has_credentials else settings.HB_ANONYMOUS_REQUEST_MAX_BYTES
        if length > limit:
            message = f"The request body is {length:,} bytes; the limit is {limit:,} bytes."
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"message": message, "extra": {"code": "too_large", "limit": limit}}, status=413
                )
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
