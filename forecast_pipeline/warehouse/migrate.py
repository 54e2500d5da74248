"""Apply the warehouse migrations (Alembic, versioned, upgrade from an empty database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine

from forecast_pipeline.warehouse.databases import with_database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _engine(url: str) -> Engine:
    return create_engine(with_database(url, driver="psycopg"))


def upgrade(url: str, revision: str = "head") -> str:
    """Upgrade the warehouse at ``url`` to ``revision``; returns the revision now applied."""
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return current_revision(url) or ""
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> str | None:
    """Downgrade the warehouse at ``url`` to ``revision`` (``base`` = empty)."""
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()
    return current_revision(url)


def current_revision(url: str) -> str | None:
    """The revision the warehouse at ``url`` is at (None for an empty database)."""
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with the code."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head
