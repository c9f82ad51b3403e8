"""Bulk writes shared by the cohort paths of the qualification services.

Design note: Django's ``bulk_update`` writes one ``CASE WHEN pk = … THEN …`` branch per row and field; for
a cohort's exam answers (hundreds of attempts × 27 items × 2 fields) building and compiling those
expressions cost more than the database did, and PostgreSQL walks the branches for every row.
:func:`update_rows` sends one ``UPDATE … FROM unnest(…)`` per batch instead: one array parameter per column (cast
to the column's type) joined on the primary key. Other backends (SQLite: the demo) use ``bulk_update``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

BATCH = 2000


def update_rows(model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of every object in ``objs`` (saved rows of ``model``), keyed by primary key.
    No ``save()``, no signals, no ``auto_now``: as ``QuerySet.bulk_update``, which it replaces on
    PostgreSQL."""
    if not objs or not fields:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, list(fields), batch_size=500)
        return
    meta = model._meta
    pk = meta.pk
    cols = [meta.get_field(f) for f in fields]
    qn = connection.ops.quote_name
    arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in [pk, *cols])
    names = ", ".join(qn(f.column) for f in [pk, *cols])
    assign = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in cols)
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {assign} FROM unnest({arrays}) AS v({names}) "
        f"WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    )
    for start in range(0, len(objs), BATCH):
        chunk = objs[start : start + BATCH]
        params = [[pk.get_db_prep_value(obj.pk, connection) for obj in chunk]]
        params.extend(
            [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in chunk] for f in cols
        )
        with connection.cursor() as cur:
            cur.execute(sql, params)
