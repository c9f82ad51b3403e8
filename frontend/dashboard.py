"""Dashboard panels per role. Each app contributes panels through a function registered here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from annotation.models import User

Panel = dict[str, Any]  # {"title": str, "template": str, "context": dict}
PANEL_PROVIDERS: list[Callable[[User], list[Panel]]] = []


def register_panels(provider: Callable[[User], list[Panel]]) -> Callable[[User], list[Panel]]:
    PANEL_PROVIDERS.append(provider)
    return provider


def dashboard_panels(user: User) -> list[Panel]:
    panels: list[Panel] = []
    for provider in PANEL_PROVIDERS:
        panels.extend(provider(user))
    return panels
