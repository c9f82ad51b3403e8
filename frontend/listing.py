"""Server-side lists for the console's long tables: pages of rows (Django's Paginator, ``?page=``), a sort
chosen by a column header (``?sort=key`` or ``?sort=-key``) and filters (``?q=``, ``?status=`` …), so that
every row is reachable however long the list grows and each link keeps the other parameters.

Several lists on one page keep apart by a prefix (``dpage``, ``dsort`` … for prefix ``d``). Filtering is the
view's business (it knows its columns); a Listing only reads the parameter names it owns and builds links.
Templates use the ``listing`` tags: ``{% sort_th rows "created" "Uploaded" %}``, ``{% page_query rows 3 %}``
and ``{% include "frontend/_pager.html" with listing=rows %}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.db.models.expressions import OrderBy
from django.http import HttpRequest, QueryDict

PER_PAGE = 25


@dataclass
class Listing:
    page: Page
    sort: str  # the sort key in force, "-" first when descending
    params: QueryDict  # the request's query parameters, to keep in every link
    prefix: str = ""
    label: str = "Pages"
    filters: dict[str, str] = field(default_factory=dict)  # the filters in force, by parameter name

    def name(self, param: str) -> str:
        return f"{self.prefix}{param}"

    def query(self, **changes: Any) -> str:
        """``?…`` with this listing's parameters changed (None removes one); other parameters kept."""
        q = self.params.copy()
        for key, value in changes.items():
            name = self.name(key)
            if value in (None, ""):
                q.pop(name, None)
            else:
                q[name] = str(value)
        return "?" + q.urlencode() if q else "?"

    def value(self, param: str) -> str:
        return self.params.get(self.name(param), "")

    @property
    def kept_params(self) -> list[tuple[str, str]]:
        """A filter form's hidden inputs: the other lists' parameters and this list's sort (a new filter
        starts at page 1; a form that chooses the sort itself names ``sort`` among its filters)."""
        own = {self.name(p) for p in ("page", *self.filters)}
        return [(k, v) for k in self.params for v in self.params.getlist(k) if k not in own]


def _reverse(field: str | OrderBy) -> str | OrderBy:
    if isinstance(field, OrderBy):
        return field.copy().reverse_ordering()  # flips nulls first/last too
    return field[1:] if field.startswith("-") else f"-{field}"


def paginate(
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    sorts: Mapping[str, Sequence[str | OrderBy]],
    default_sort: str,
    per_page: int = PER_PAGE,
    prefix: str = "",
    filters: Sequence[str] = (),
    label: str = "Pages",
) -> Listing:
    """One page of ``queryset`` ordered by the requested sort (a key of ``sorts``, whose value is the
    ``order_by`` fields for ascending; descending reverses each). An unknown sort or page falls back to the
    default sort and the nearest page, never an error."""
    params = request.GET.copy()
    sort = params.get(f"{prefix}sort", default_sort)
    if sort.lstrip("-") not in sorts:
        sort = default_sort
    fields = list(sorts[sort.lstrip("-")])
    if sort.startswith("-"):
        fields = [_reverse(f) for f in fields]
    paginator = Paginator(queryset.order_by(*fields), per_page)
    page = paginator.get_page(params.get(f"{prefix}page"))
    return Listing(
        page=page,
        sort=sort,
        params=params,
        prefix=prefix,
        label=label,
        filters={f: params.get(f"{prefix}{f}", "") for f in filters},
    )
