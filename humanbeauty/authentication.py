"""Token authentication for the API (a separate module: DRF imports it while ``rest_framework.views`` loads)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS
from rest_framework import authentication, exceptions

from .db import prepared_cursor


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication with its look-up (token joined to its user) as one prepared statement:
    every API call pays for it, and the ORM built and PostgreSQL planned it anew on each request. Same
    answers as DRF's class: no caching, so a deleted token or a deactivated user is refused at once."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        from rest_framework.authtoken.models import Token

        user_model = get_user_model()
        fields = [f.attname for f in user_model._meta.concrete_fields]
        columns = ", ".join(f"u.{user_model._meta.get_field(f).column}" for f in fields)
        sql = (
            f"SELECT t.created, {columns} FROM {Token._meta.db_table} t "
            f"JOIN {user_model._meta.db_table} u ON u.id = t.user_id WHERE t.key = %s"
        )
        with prepared_cursor() as cur:
            cur.execute(sql, [key])
            row = cur.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = user_model.from_db(DEFAULT_DB_ALIAS, fields, list(row[1:]))
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, Token(key=key, user=user, created=row[0])
