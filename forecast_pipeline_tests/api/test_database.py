"""The API's connections: the forecast_api role, which reads the analytics views and the key
hashes and nothing else, on read-only connections."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient


def _run(client: TestClient, sql: str) -> Any:
    """``sql`` on one of the app's pooled connections, in the app's event loop."""

    async def query() -> Any:
        async with client.app.state.api.pool.connection() as conn:
            cursor = await conn.execute(sql)
            return await cursor.fetchall()

    return client.portal.call(query)


def test_the_api_connects_as_the_forecast_api_role(client: TestClient) -> None:
    assert _run(client, "SELECT current_user AS user") == [{"user": "forecast_api"}]
    rows = _run(client, "SELECT count(*) AS n FROM analytics.top_products")
    assert rows[0]["n"] > 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM warehouse.sales_history LIMIT 1",
        "SELECT * FROM forecasts.forecast_runs LIMIT 1",
        "UPDATE api.api_keys SET revoked_at = NULL",
        "CREATE TEMP TABLE scratch (x int)",
    ],
)
def test_the_role_reads_the_views_and_nothing_else(client: TestClient, sql: str) -> None:
    refused = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
    with pytest.raises(refused):
        _run(client, sql)


def test_the_pooled_connections_are_read_only(client: TestClient) -> None:
    rows = _run(client, "SHOW transaction_read_only")
    assert rows == [{"transaction_read_only": "on"}]
