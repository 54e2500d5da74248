"""API keys: created and revoked by the CLI, checked by the API. Only hashes are stored.

A key reads ``fpk_<key_id>.<secret>``: the ``key_id`` (public, shown by ``list``) and 32 random
bytes. ``api.api_keys`` keeps the SHA-256 of the whole key; the key itself is shown once.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row

__all__ = ["ApiKey", "create_key", "hash_key", "list_keys", "lookup_key", "revoke_key"]

PREFIX = "fpk_"
_COLUMNS = "key_id, name, rate_limit_per_minute, created_at, revoked_at"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    rate_limit_per_minute: int | None
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def create_key(
    conn: psycopg.Connection, name: str, rate_limit_per_minute: int | None = None
) -> tuple[ApiKey, str]:
    """Store a new key; returns its record and the key itself (the only time it is seen)."""
    if not name.strip():
        raise ValueError("an API key needs a name (who or what uses it)")
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ValueError("rate_limit_per_minute must be at least 1")
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}.{secrets.token_urlsafe(32)}"
    cursor = conn.cursor(row_factory=class_row(ApiKey))
    record = cursor.execute(
        f"INSERT INTO api.api_keys (key_id, name, key_hash, rate_limit_per_minute) "
        f"VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
        (key_id, name.strip(), hash_key(key), rate_limit_per_minute),
    ).fetchone()
    assert record is not None
    return record, key


def list_keys(conn: psycopg.Connection) -> list[ApiKey]:
    cursor = conn.cursor(row_factory=class_row(ApiKey))
    return cursor.execute(f"SELECT {_COLUMNS} FROM api.api_keys ORDER BY created_at").fetchall()


def revoke_key(conn: psycopg.Connection, key_id: str) -> ApiKey | None:
    """Revoke ``key_id`` (a no-op for a revoked key); ``None`` when there is no such key."""
    cursor = conn.cursor(row_factory=class_row(ApiKey))
    return cursor.execute(
        f"UPDATE api.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = %s "
        f"RETURNING {_COLUMNS}",
        (key_id.removeprefix(PREFIX),),
    ).fetchone()


async def lookup_key(conn: psycopg.AsyncConnection, key: str) -> ApiKey | None:
    """The record of ``key`` (revoked or not), or ``None`` for an unknown key."""
    cursor = conn.cursor(row_factory=class_row(ApiKey))
    await cursor.execute(
        f"SELECT {_COLUMNS} FROM api.api_keys WHERE key_hash = %s", (hash_key(key),)
    )
    return await cursor.fetchone()
