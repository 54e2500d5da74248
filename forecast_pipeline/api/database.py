"""The API's async connection pool (read-only, autocommit connections)."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from forecast_pipeline.api.settings import ApiSettings


async def _read_only(conn: AsyncConnection) -> None:
    # psycopg's read_only applies to the transactions it begins, not to autocommit statements
    await conn.set_autocommit(True)
    await conn.execute("SET default_transaction_read_only = on")


def build_pool(settings: ApiSettings) -> AsyncConnectionPool:
    """A pool of read-only connections (opened by the app's lifespan, not here)."""
    return AsyncConnectionPool(
        settings.database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs={"row_factory": dict_row},
        configure=_read_only,
        check=AsyncConnectionPool.check_connection,  # a connection lost meanwhile is replaced
        open=False,
    )
