"""Which published run the API serves: kept in memory, switched on the publisher's notification.

The publisher runs ``pg_notify('forecast_published', run_id)`` in its transaction, so the
notification arrives when the new run becomes visible. :class:`RunTracker` listens on a
dedicated connection and re-reads ``analytics.latest_forecast_run`` on every notification and,
in case one is lost (a dropped connection), every ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from forecast_pipeline.warehouse.publishing import PUBLISHED_CHANNEL

log = logging.getLogger(__name__)

LATEST_RUN_SQL = """
SELECT run_id, forecast_week, forecast_origin, model_name, model_version, mlflow_run_id,
       data_start, data_end, horizon_weeks, n_products, published_at
FROM analytics.latest_forecast_run
"""


@dataclass(frozen=True)
class PublishedRun:
    """The run the API serves (a row of ``analytics.latest_forecast_run``)."""

    run_id: str
    forecast_week: str
    forecast_origin: datetime.date
    model_name: str
    model_version: str
    mlflow_run_id: str | None
    data_start: datetime.date
    data_end: datetime.date
    horizon_weeks: int
    n_products: int
    published_at: datetime.datetime


async def read_latest_run(conn: psycopg.AsyncConnection) -> PublishedRun | None:
    """The latest published run, or ``None`` before the first publication."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(LATEST_RUN_SQL)
    row = await cursor.fetchone()
    return PublishedRun(**row) if row else None


class RunTracker:
    """The latest published run, refreshed by LISTEN/NOTIFY with a polling fallback."""

    def __init__(self, conninfo: str, poll_seconds: float = 30.0) -> None:
        self.conninfo = conninfo
        self.poll_seconds = poll_seconds
        self.current: PublishedRun | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        """Read the current run, then follow publications in the background."""
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            self.current = await read_latest_run(conn)
        self._task = asyncio.create_task(self._follow(), name="run-tracker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self, conn: psycopg.AsyncConnection) -> PublishedRun | None:
        """Re-read the latest run now (e.g. when a query saw a newer one)."""
        self.current = await read_latest_run(conn)
        return self.current

    async def _follow(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {PUBLISHED_CHANNEL}")
                    self.current = await read_latest_run(conn)  # nothing missed meanwhile
                    backoff = 0.5
                    while True:
                        async for _ in conn.notifies(timeout=self.poll_seconds, stop_after=1):
                            pass
                        previous = self.current
                        self.current = await read_latest_run(conn)
                        if self.current != previous:
                            log.info(
                                "serving run %s",
                                self.current.run_id if self.current else None,
                            )
            except asyncio.CancelledError:
                raise
            except psycopg.Error as error:
                log.warning("run tracker lost its connection (%s); retrying", error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
