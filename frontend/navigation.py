"""Role-aware navigation: one list, each entry names the roles that see it.

Apps add their pages here (label, URL name, roles). Entries whose URL does not resolve are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    roles: frozenset[str]


ALL = frozenset({"volunteer", "admin", "researcher"})

NAV: list[NavEntry] = [
    NavEntry("Dashboard", "frontend:dashboard", ALL),
    NavEntry("Qualification", "frontend:qualification", frozenset({"volunteer"})),
    NavEntry("Collect", "frontend:collect", frozenset({"volunteer"})),
    NavEntry("Score", "frontend:score", frozenset({"volunteer"})),
    NavEntry("Protocols", "frontend:admin-qualification", frozenset({"admin"})),
    NavEntry("Campaigns", "frontend:campaigns", frozenset({"admin"})),
    NavEntry("Review", "frontend:review", frozenset({"admin"})),
    NavEntry("Scoring progress", "frontend:scoring-progress", frozenset({"admin"})),
    NavEntry("Rater quality", "frontend:rater-quality", frozenset({"admin"})),
    NavEntry("Level examples", "frontend:level-examples", frozenset({"admin"})),
    NavEntry("Sources", "frontend:sources", frozenset({"admin"})),
    NavEntry("Releases", "frontend:releases", frozenset({"admin", "researcher"})),
    NavEntry("Models", "frontend:models", frozenset({"admin", "researcher"})),
    NavEntry("Jobs", "frontend:jobs", frozenset({"admin", "researcher"})),
    NavEntry("API", "api-docs", ALL),
]


def nav_for(role: str | None, *, is_superuser: bool = False) -> list[dict[str, str]]:
    entries = []
    for entry in NAV:
        if not (is_superuser or (role and role in entry.roles)):
            continue
        try:
            entries.append({"label": entry.label, "url": reverse(entry.url_name)})
        except NoReverseMatch:
            continue
    return entries
