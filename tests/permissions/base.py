"""Types for the permission matrix (see README.md beside this file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ANON, VOL, ADM, RES = "anonymous", "volunteer", "admin", "researcher"
ALLOWED_BODY_ERRORS = {200, 201, 204, 400, 404, 409}  # reached the view: permission granted

Expect = int | set[int]


@dataclass(frozen=True)
class Route:
    route: str  # Django route string as in the URLconf, e.g. "api/jobs/<int:job_id>/"
    method: str
    expect: dict[str, Expect]  # role -> status (or set of statuses)
    kwargs: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda ctx: {})
    data: Any = None  # request body (JSON) for writes; None sends an empty body
    fmt: str = "json"


def allowed(*roles: str, ok: Expect = frozenset({200}), denied_anon: int = 401) -> dict[str, Expect]:
    """Expected statuses when only ``roles`` may use a route: 401 anonymous, 403 other roles."""
    out: dict[str, Expect] = {ANON: denied_anon}
    for role in (VOL, ADM, RES):
        out[role] = set(ok) if role in roles else 403
    return out
