"""Template tags of server-side lists (frontend/listing.py): sortable headers and page links that keep the
page's other query parameters."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from frontend.listing import Listing

register = template.Library()


@register.simple_tag
def page_query(listing: Listing, number: int) -> str:
    return listing.query(page=number)


@register.simple_tag
def sort_th(listing: Listing, key: str, label: str, descending_first: bool = False) -> str:
    """A ``<th>`` whose link sorts by ``key`` (again: the other way), with ``aria-sort`` for the current
    one. A new sort starts at page 1."""
    current = listing.sort.lstrip("-")
    desc = listing.sort.startswith("-")
    if current == key:
        aria = "descending" if desc else "ascending"
        target = key if desc else f"-{key}"
        arrow = " ▼" if desc else " ▲"
    else:
        aria, target, arrow = "none", f"-{key}" if descending_first else key, ""
    return format_html(
        '<th aria-sort="{}"><a class="sort" href="{}">{}<span aria-hidden="true">{}</span></a></th>',
        aria,
        listing.query(sort=target, page=None),
        label,
        arrow,
    )
