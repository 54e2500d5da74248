"""The API's async connection pool and the dependency that hands out connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from forecast_pipeline.api.settings import ApiSettings


async def _read_only(conn: AsyncConnection) -> None:
    await conn.set_read_only(True)
    await conn.set_autocommit(True)


def build_pool(settings: ApiSettings) -> AsyncConnectionPool:
    """A pool of read-only connections (opened by the app's lifespan, not here)."""
    return AsyncConnectionPool(
        settings.reader_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs={"row_factory": dict_row},
        configure=_read_only,
        open=False,
    )


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        yield conn


Connection = Annotated[AsyncConnection, Depends(connection)]
