"""Apply the warehouse migrations (Alembic, versioned, upgrade from an empty database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine

from forecast_pipeline.warehouse.databases import with_database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@contextmanager
def _connection(url: str, *, transaction: bool) -> Iterator[Connection]:
    engine = create_engine(with_database(url, driver="psycopg"))
    try:
        with engine.begin() if transaction else engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _run(url: str, alembic_command: Callable[[Config, str], None], revision: str) -> str | None:
    with _connection(url, transaction=True) as connection:
        config = _config()
        config.attributes["connection"] = connection
        alembic_command(config, revision)
    return current_revision(url)


def upgrade(url: str, revision: str = "head") -> str | None:
    """Upgrade the warehouse at ``url`` to ``revision``; returns the revision now applied."""
    return _run(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> str | None:
    """Downgrade the warehouse at ``url`` to ``revision`` (``base`` = empty)."""
    return _run(url, command.downgrade, revision)


def current_revision(url: str) -> str | None:
    """The revision the warehouse at ``url`` is at (None for an empty database)."""
    with _connection(url, transaction=False) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with the code."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head
