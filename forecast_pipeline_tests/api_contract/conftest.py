"""A published warehouse for the API contract tests: products, one published run with its
category history, a promotion, backtest figures, an indicator series and an API key."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import psycopg
import pytest
from sqlalchemy.engine import make_url

from forecast_pipeline.api.keys import create_key
from forecast_pipeline.warehouse import databases, migrate
from forecast_pipeline.warehouse.publishing import (
    ensure_week_partition,
    publish_forecast_run,
    replace_backtest_metrics,
)
from forecast_pipeline_tests.warehouse.publisher_process import (
    CATEGORIES,
    forecast_run,
    published_tables,
)

WEEK = date(2026, 11, 2)  # a Monday
PRODUCTS, WEEKS, HISTORY_WEEKS = 40, 12, 60
RUN_ID = "run-api-contract"
MODEL_VERSION = "3"


API_CONNECTIONS = """
SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
FROM pg_stat_activity WHERE usename = %s AND datname = %s
"""


@dataclass(frozen=True)
class PublishedWarehouse:
    url: str  # the owner (migrations, publishing)
    api_url: str  # the same database as the API's role
    database: str
    api_key: str  # a key with a rate limit no test reaches
    run_id: str

    def api_connections(self, admin: psycopg.Connection | None = None) -> tuple[int, int]:
        """The API role's sessions on the database: all, and those waiting for a lock."""
        if admin is None:
            with psycopg.connect(self.url, autocommit=True) as conn:
                return self.api_connections(conn)
        row = admin.execute(API_CONNECTIONS, (databases.API_ROLE, self.database)).fetchone()
        assert row is not None
        return row[0], row[1]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def category_history(week: date, products: int) -> pd.DataFrame:
    """Weekly units per category and in total over the HISTORY_WEEKS before ``week``."""
    weeks = [week - timedelta(weeks=n) for n in range(HISTORY_WEEKS, 0, -1)]
    rows = []
    for i, category in enumerate(CATEGORIES):
        for n, start in enumerate(weeks):
            rows.append(("category", category, start, float(100 + 10 * i + n % 7)))
    history = pd.DataFrame(rows, columns=["level", "category", "week", "units"])
    total = history.groupby("week", as_index=False)["units"].sum()
    total = total.assign(level="total", category="total")
    frame = pd.concat([history, total[history.columns]], ignore_index=True)
    frame["week"] = pd.to_datetime(frame["week"])
    return frame


def backtest_metrics() -> pd.DataFrame:
    rows = []
    for model in ("ensemble", "lightgbm", "seasonal_naive"):
        for level in ("product", "category", "total"):
            for cutoff in (None, WEEK - timedelta(weeks=4)):
                rows.append(
                    {
                        "model": model,
                        "level": level,
                        "cutoff": cutoff,
                        "mae": 3.1, "rmse": 4.2, "wape": 0.21, "mase": 0.83, "bias": -0.02,
                        "r2": 0.71, "coverage_80": 0.79, "width_80": 12.0,
                        "coverage_95": 0.94, "width_95": 19.0,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def build_published_warehouse(url: str) -> PublishedWarehouse:
    migrate.upgrade(url)
    run = forecast_run(RUN_ID, WEEK, products=PRODUCTS, weeks=WEEKS, model_version=MODEL_VERSION)
    tables = published_tables(WEEK, products=PRODUCTS, weeks=WEEKS, seed=7)
    tables = type(tables)(
        product_forecasts=tables.product_forecasts,
        top_products=tables.top_products,
        category_forecasts=tables.category_forecasts,
        category_outlook=tables.category_outlook,
        category_history=category_history(WEEK, PRODUCTS),
    )
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO warehouse.products "
            "(product_id, product_name, category, first_sale_date, last_sale_date) "
            "SELECT format('P%%s', lpad(i::text, 7, '0')), format('Product %%s', i), "
            "       (%s::text[])[i %% %s + 1], %s::date - i, %s::date - (i %% 5) "
            "FROM generate_series(0, %s - 1) AS i",
            (CATEGORIES, len(CATEGORIES), WEEK - timedelta(weeks=150), WEEK, PRODUCTS),
        )
        conn.execute(
            "INSERT INTO warehouse.indicator_observations "
            "(series_id, observation_date, value, published_date, source, frequency) "
            "VALUES ('CPIAUCSL', %s, 310.2, %s, 'fred', 'monthly')",
            (WEEK - timedelta(days=40), WEEK - timedelta(days=25)),
        )
        replace_backtest_metrics(conn, run.partition_key, backtest_metrics(), "mlflow-backtest")
        conn.execute(
            "INSERT INTO forecasts.model_promotions (model_name, version, decision, decided_at, "
            "partition_key, previous_champion, metric, margin, challenger_value, "
            "champion_value, reason, decided_by) "
            "VALUES (%s, %s, 'promoted', %s, %s, 2, 'wape', 0.02, 0.21, 0.24, "
            "'beat the champion by 0.03 WAPE', 'promotion_gate')",
            (run.model_name, int(MODEL_VERSION), datetime.now(UTC), run.partition_key),
        )
        _, key = create_key(conn, "api contract tests", rate_limit_per_minute=1_000_000)
    with psycopg.connect(url) as conn:
        ensure_week_partition(conn, WEEK)
    with psycopg.connect(url) as conn:
        publish_forecast_run(conn, run, tables)
    database = make_url(url).database
    assert database is not None
    return PublishedWarehouse(
        url=url,
        api_url=databases.with_database(url, user=databases.API_ROLE),
        database=database,
        api_key=key,
        run_id=RUN_ID,
    )


@pytest.fixture(scope="module")
def published_warehouse(make_database) -> PublishedWarehouse:
    """A fresh database per test module with one published run the API serves."""
    return build_published_warehouse(make_database("fp_api"))
