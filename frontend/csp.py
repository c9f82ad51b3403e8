"""Content-Security-Policy on every response (a small middleware instead of a dependency).

The browser pages carry no inline script, no inline event handler and no ``style=""`` attribute: every
script is a static module under ``frontend/static`` and dynamic sizes are set from JavaScript (CSSOM, which
a CSP does not block). So the page policy allows only this origin. The two API documentation pages
(Swagger UI and ReDoc, served locally by drf-spectacular's sidecar) inject style attributes of their own, so
there, and only there, ``style-src`` also allows inline styles; scripts stay strict everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

BASE_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Pages whose third-party UI sets inline styles (scripts are still same-origin only).
INLINE_STYLE_PREFIXES = ("/api/docs/", "/api/redoc/", "/admin/")


def policy_for(path: str) -> str:
    directives = dict(BASE_DIRECTIVES)
    if path.startswith(INLINE_STYLE_PREFIXES):
        directives["style-src"] = "'self' 'unsafe-inline'"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_for(request.path)
        return response
