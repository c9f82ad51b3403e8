"""Prepared statements for the few hot, hand-written SQL statements (the scoring queue).

Django's PostgreSQL backend binds parameters on the client and never prepares, so PostgreSQL plans every
statement again on every call. For the queue's candidate query that planning (~3 ms) costs several times
its execution (~0.5 ms). ``prepared_cursor()`` gives a Django cursor (same connection and transaction,
same error translation, logged like any query in tests) whose statements are bound on the server and
prepared once per connection, so with persistent connections (``CONN_MAX_AGE``) each is planned once
per worker. Other backends (SQLite, the embedded default) get the ordinary cursor.

Not for use behind a transaction-pooling proxy such as PgBouncer in transaction mode (prepared
statements live in a server session); the compose deployment connects directly.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper


def _prepared_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, **kw: Any) -> Any:
            return super().execute(query, params, prepare=True if prepare is None else prepare, **kw)

    return PreparedCursor


_CLASS: type | None = None


def prepared_cursor() -> CursorWrapper:
    """A cursor whose statements are server-side prepared on PostgreSQL (use it as a context manager).
    Placeholders are ``%s`` either way."""
    global _CLASS
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if _CLASS is None:
        _CLASS = _prepared_cursor_class()
    raw = _CLASS(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
