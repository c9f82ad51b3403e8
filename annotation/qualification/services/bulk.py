"""Bulk writes shared by the cohort paths of the qualification services.

Design note: Django's ``bulk_update`` writes one ``CASE WHEN pk = … THEN …`` branch per row and field; for
a cohort's exam answers (hundreds of attempts × 27 items × 2 fields) building and compiling those
expressions cost more than the database did, and PostgreSQL walks the branches for every row.
:func:`update_rows` sends one ``UPDATE … FROM jsonb_to_recordset(%s)`` per batch instead: the rows as one
JSON document (one ``json.dumps``, one literal to quote), typed by the column definitions and joined on
the primary key. Other backends (SQLite: the demo) use ``bulk_update``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, JSONField, Model

BATCH = 2000


def _json_value(field: Field, value: Any) -> Any:
    """``value`` of ``field`` as a JSON value that ``jsonb_to_recordset`` reads back into the column's type."""
    if value is None or isinstance(field, JSONField):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return field.get_db_prep_save(value, connection)


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
    record = ", ".join(f"{qn(f.column)} {f.cast_db_type(connection)}" for f in [pk, *cols])
    assign = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in cols)
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {assign} FROM jsonb_to_recordset(%s::jsonb) AS v({record}) "
        f"WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    )
    for start in range(0, len(objs), BATCH):
        rows = [
            {pk.column: obj.pk} | {f.column: _json_value(f, getattr(obj, f.attname)) for f in cols}
            for obj in objs[start : start + BATCH]
        ]
        with connection.cursor() as cur:
            cur.execute(sql, [json.dumps(rows)])
