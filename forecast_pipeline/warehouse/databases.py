"""Postgres servers and databases: the embedded server of the local deployment and URL helpers."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# The read-only role that BI tools and the API log in as (created by migration 0001).
READER_ROLE = "forecast_reader"
API_ROLE = "forecast_api"  # the API: reads analytics and the API key hashes


def start_embedded_postgres(pgdata: Path, *, keep_running: bool = True) -> str:
    """Start (or reuse) the embedded PostgreSQL server whose data lives in ``pgdata``.

    With ``keep_running`` the server outlives this process, so later commands reuse it and its
    data survives between runs; without it, the server stops and its folder is deleted when
    this process exits (tests). Returns a URL for the ``postgres`` database on it.
    """
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver  # imported only when the local stack is started

        server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "delete")
    url = server.get_uri()
    log.info("embedded PostgreSQL ready at %s", url)
    return url


def with_database(
    url: str, database: str | None = None, *, user: str | None = None, driver: str = ""
) -> str:
    """``url`` pointed at another database, user or SQLAlchemy driver (``""`` = plain libpq URL)."""
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    if user is not None:
        parsed = parsed.set(username=user, password=None)
    drivername = f"postgresql+{driver}" if driver else "postgresql"
    return parsed.set(drivername=drivername).render_as_string(hide_password=False)


def ensure_database(server_url: str, database: str) -> bool:
    """Create ``database`` on the server unless it exists; True when it was created."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        log.info("created database %s", database)
        return True


def drop_database(server_url: str, database: str) -> None:
    """Drop ``database`` (closing its other sessions first); used by tests and resets."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
