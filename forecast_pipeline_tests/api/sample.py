"""A warehouse holding published sample forecasts for the API tests, and what the API should
answer from it.

Every value is computed here in Python and written as is, so the tests compare the API's
answers with these rows exactly: 40 products in 3 categories, one published run (product and
category forecasts for 52 weeks, 26 weeks of category history, outlook and ranked top products
per window), the promotion of the model version that made it, its backtest figures and an API
key. :func:`publish_run` publishes further runs the way the publishing asset does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd
import psycopg

from forecast_pipeline.api import keys
from forecast_pipeline.warehouse import databases, promotions
from forecast_pipeline.warehouse.publishing import (
    ForecastRun,
    PublishedTables,
    ensure_week_partition,
    publish_forecast_run,
    replace_backtest_metrics,
)

CATEGORIES = ("beverages", "dairy", "snacks")
N_PRODUCTS = 40
HISTORY_WEEKS = 26
HORIZON = 52
PERIODS = {"week": 1, "month": 4, "year": 52}
WEEK = date(2026, 11, 9)  # the published run's partition (a Monday)
TRAINING_WEEK = WEEK - timedelta(weeks=1)  # the partition that trained the champion
MODEL_NAME = "forecast_pipeline_ensemble"
PROMOTION_REASON = "promoted: WAPE 0.180 beats champion v0 by more than 1% at the category level"
# figures of the ensemble's backtest (cutoff NULL = over all windows) per level
BACKTEST = {
    level: dict(zip(("wape", "mase", "bias", "coverage_80", "coverage_95"), figures, strict=True))
    for level, figures in {
        "product": (0.31, 0.92, -0.02, 0.79, 0.94),
        "category": (0.18, 0.71, 0.01, 0.82, 0.96),
        "total": (0.09, 0.55, 0.005, 0.85, 0.97),
    }.items()
}


@dataclass(frozen=True)
class Product:
    product_id: str
    product_name: str
    category: str
    first_sale_date: date
    last_sale_date: date
    weight: int  # distinct per product: ranks the products (base units of the forecasts)


def catalogue() -> list[Product]:
    """40 products, every third in the same category; weights 5..44 in a scrambled order."""
    return [
        Product(
            product_id=f"P{i:03d}",
            product_name=f"Product {i:03d}",
            category=CATEGORIES[i % len(CATEGORIES)],
            first_sale_date=date(2024, 1, 1) + timedelta(days=i),
            last_sale_date=date(2026, 11, 15) - timedelta(days=i % 7),
            weight=(i * 17) % N_PRODUCTS + 5,
        )
        for i in range(N_PRODUCTS)
    ]


def _intervals(units: float) -> dict[str, float]:
    return {
        "lower_80": units * 0.9,
        "upper_80": units * 1.1,
        "lower_95": units * 0.8,
        "upper_95": units * 1.2,
    }


@dataclass(frozen=True)
class Run:
    """A published run: its record, the rows written, and ``published_at`` as stored."""

    run: ForecastRun
    tables: PublishedTables = field(repr=False)
    published_at: dt.datetime | None
    top_products: list[dict[str, Any]]
    category_forecasts: list[dict[str, Any]]
    category_outlook: list[dict[str, Any]]
    category_history: list[dict[str, Any]]

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def envelope(self) -> dict[str, Any]:
        """The run fields every forecast response starts with (JSON values)."""
        return {
            "forecast_week": self.run.partition_key,
            "forecast_origin": self.run.origin.isoformat(),
            "model_version": self.run.model_version,
        }

    def top(
        self, time_period: str, category: str | None = None, limit: int = 10, offset: int = 0
    ) -> list[dict[str, Any]]:
        """The rows of /forecast/top-products: ranks offset+1..offset+limit of each category."""
        rows = [
            row
            for row in self.top_products
            if row["time_period"] == time_period
            and (category is None or row["category"] == category)
            and offset < row["rank"] <= offset + limit
        ]
        return sorted(rows, key=lambda row: (row["category"], row["rank"]))

    def outlook(self, time_period: str, category: str) -> dict[str, Any]:
        (row,) = [
            {k: v for k, v in row.items() if k not in ("level", "time_period")}
            for row in self.category_outlook
            if row["time_period"] == time_period and row["category"] == category
        ]
        return row

    def history(self, category: str) -> list[dict[str, Any]]:
        rows = [row for row in self.category_history if row["category"] == category]
        return [
            {"week": row["week"].isoformat(), "units": row["units"]}
            for row in sorted(rows, key=lambda row: row["week"])
        ]

    def forecast(self, category: str) -> list[dict[str, Any]]:
        rows = [row for row in self.category_forecasts if row["category"] == category]
        return [
            {"week": row["target_week"].isoformat(), "step": row["step"], "units": row["units"]}
            | {k: row[k] for k in ("lower_80", "upper_80", "lower_95", "upper_95")}
            for row in sorted(rows, key=lambda row: row["step"])
        ]


def build_tables(week: date, scale: float) -> tuple[PublishedTables, dict[str, list[dict]]]:
    """The rows of a run of ``week``; ``scale`` multiplies every figure (runs differ by it)."""
    origin = week + timedelta(weeks=1)
    products = catalogue()
    steps = range(1, HORIZON + 1)
    weekly = {
        p.product_id: [scale * p.weight * (1 + (step % 4) / 8) for step in steps] for p in products
    }
    product_rows = [
        {"product_id": p.product_id, "category": p.category,
         "target_week": origin + timedelta(weeks=step - 1), "step": step, "units": units,
         **_intervals(units), "cold_start": p.weight % 10 == 9}
        for p in products
        for step, units in zip(steps, weekly[p.product_id], strict=True)
    ]  # fmt: skip

    series: dict[tuple[str, str], list[float]] = {}
    for category in CATEGORIES:
        members = [weekly[p.product_id] for p in products if p.category == category]
        series[("category", category)] = [
            sum(week_units) for week_units in zip(*members, strict=True)
        ]
    series[("total", "total")] = [
        sum(week_units)
        for week_units in zip(*(series[("category", c)] for c in CATEGORIES), strict=True)
    ]
    category_forecasts = [
        {"level": level, "category": category, "target_week": origin + timedelta(weeks=step - 1),
         "step": step, "units": units, **_intervals(units)}
        for (level, category), values in series.items()
        for step, units in zip(steps, values, strict=True)
    ]  # fmt: skip
    category_outlook = []
    for (level, category), values in series.items():
        for period, span in PERIODS.items():
            predicted = sum(values[:span])
            category_outlook.append(
                {"level": level, "category": category, "time_period": period,
                 "predicted_units": predicted, **_intervals(predicted),
                 "previous_units": predicted * 0.8, "change_pct": 0.25,
                 "last_year_units": predicted * 0.5 if period != "year" else None,
                 "change_vs_last_year_pct": 1.0 if period != "year" else None,
                 "trend": "up"}
            )  # fmt: skip
    first_history_week = week - timedelta(weeks=HISTORY_WEEKS - 1)
    history = {
        ("category", category): [scale * (100.0 * (c + 1) + k) for k in range(HISTORY_WEEKS)]
        for c, category in enumerate(CATEGORIES)
    }
    history[("total", "total")] = [
        sum(units) for units in zip(*(history[("category", c)] for c in CATEGORIES), strict=True)
    ]
    category_history = [
        {"level": level, "category": category,
         "week": first_history_week + timedelta(weeks=k), "units": units}
        for (level, category), values in history.items()
        for k, units in enumerate(values)
    ]  # fmt: skip

    top_products = []
    for category in CATEGORIES:
        members = sorted((p for p in products if p.category == category), key=lambda p: -p.weight)
        for period, span in PERIODS.items():
            for rank, p in enumerate(members, start=1):
                predicted = sum(weekly[p.product_id][:span])
                price = 1.5 + p.weight % 5
                top_products.append(
                    {"category": category, "time_period": period, "rank": rank,
                     "product_id": p.product_id, "product_name": p.product_name,
                     "predicted_units": predicted, "lower_80": predicted * 0.9,
                     "upper_80": predicted * 1.1, "previous_units": predicted * 0.75,
                     "change_pct": 1 / 3, "trend": ("up", "down", "flat")[p.weight % 3],
                     "unit_price": price, "predicted_revenue": predicted * price,
                     "last_year_units": predicted * 0.5 if period != "year" else None,
                     "change_vs_last_year_pct": 1.0 if period != "year" else None,
                     "action": ("stock_up", "hold", "reduce")[p.weight % 3],
                     "cold_start": p.weight % 10 == 9}
                )  # fmt: skip
    tables = PublishedTables(
        product_forecasts=pd.DataFrame(product_rows),
        top_products=pd.DataFrame(top_products),
        category_forecasts=pd.DataFrame(category_forecasts),
        category_outlook=pd.DataFrame(category_outlook),
        category_history=pd.DataFrame(category_history),
    )
    rows = {
        "top_products": top_products,
        "category_forecasts": category_forecasts,
        "category_outlook": category_outlook,
        "category_history": category_history,
    }
    return tables, rows


def forecast_run(run_id: str, week: date, model_version: str = "1") -> ForecastRun:
    """The run of ``week`` as the publishing asset records it (origin: the Monday after)."""
    return ForecastRun(
        run_id=run_id,
        partition_key=week.isoformat(),
        origin=week + timedelta(weeks=1),
        model_name=MODEL_NAME,
        model_version=model_version,
        mlflow_run_id=f"mlflow-{run_id}",
        dagster_run_id=f"dagster-{run_id}",
        data_start=week - timedelta(weeks=155),
        data_end=week + timedelta(days=6),
        horizon_weeks=HORIZON,
        n_products=N_PRODUCTS,
    )


def plan_run(run_id: str, week: date, scale: float = 1.0) -> Run:
    """The run of ``week`` and its rows, before publishing (``published_at`` unknown yet)."""
    tables, rows = build_tables(week, scale)
    return Run(run=forecast_run(run_id, week), tables=tables, published_at=None, **rows)


def publish(url: str, planned: Run) -> Run:
    """Publish ``planned`` as the publisher does (partition first, in its own transaction; then
    the run and its rows, with the notification, in one transaction); with ``published_at``."""
    week = planned.run.forecast_week
    with psycopg.connect(url) as conn:
        ensure_week_partition(conn, week)
    with psycopg.connect(url) as conn:
        publish_forecast_run(conn, planned.run, planned.tables)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT published_at FROM forecasts.forecast_runs WHERE run_id = %s",
            (planned.run_id,),
        ).fetchone()
    assert row is not None
    return replace(planned, published_at=row[0])


def publish_run(url: str, run_id: str, week: date, scale: float = 1.0) -> Run:
    """Publish a run of ``week`` whose figures are ``scale`` times the sample's."""
    return publish(url, plan_run(run_id, week, scale))


@dataclass(frozen=True)
class Warehouse:
    """A migrated warehouse with the sample published, and a key for the API."""

    url: str  # as postgres (writes)
    api_url: str  # as the forecast_api role (what the API connects with)
    products: list[Product]
    run: Run
    key: str
    key_id: str
    promoted_at: dt.datetime
    sales_merged_at: dt.datetime
    last_sale_date: date


def backtest_frame() -> pd.DataFrame:
    """The training week's backtest rows: the ensemble over all windows (what model-info
    shows), per cutoff (not shown) and a baseline model (not shown)."""
    rows = []
    for level, figures in BACKTEST.items():
        common = {"level": level, "mae": 1.0, "rmse": 1.5, "r2": 0.5, "width_80": 2.0,
                  "width_95": 3.0}  # fmt: skip
        rows.append({"model": "ensemble", "cutoff": None, **common, **figures})
        rows.append(
            {"model": "ensemble", "cutoff": TRAINING_WEEK - timedelta(weeks=4), **common,
             **{k: v + 0.5 for k, v in figures.items()}}
        )  # fmt: skip
        rows.append(
            {"model": "seasonal_naive", "cutoff": None, **common,
             **{k: v + 0.25 for k, v in figures.items()}}
        )  # fmt: skip
    return pd.DataFrame(rows)


def seed_warehouse(url: str) -> Warehouse:
    """Write the sample into the migrated warehouse at ``url`` (as its owner)."""
    products = catalogue()
    merged_at = dt.datetime(2026, 11, 16, 6, 30, tzinfo=dt.UTC)
    last_sale = max(p.last_sale_date for p in products)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO warehouse.products (product_id, product_name, category, "
                "first_sale_date, last_sale_date) VALUES (%s, %s, %s, %s, %s)",
                [
                    (p.product_id, p.product_name, p.category, p.first_sale_date,
                     p.last_sale_date)
                    for p in products
                ],
            )  # fmt: skip
            conn.execute(
                "INSERT INTO warehouse.uploads (upload_id, filename, source_uri, raw_uri, "
                "checksum_sha256, size_bytes, status, merged_at) VALUES ('sales@1', "
                "'sales.csv', 'file:///landing/sales.csv', 'file:///raw/sales.csv', %s, 100, "
                "'merged', %s)",
                ("a" * 64, merged_at),
            )
            cursor.executemany(
                "INSERT INTO warehouse.sales_history (sale_date, store_id, product_id, units, "
                "unit_price, revenue, on_promotion, upload_id, line_number) "
                "VALUES (%s, 'main', %s, %s, 2.50, %s, false, 'sales@1', %s)",
                [
                    (last_sale - timedelta(days=d), p.product_id, p.weight, p.weight * 2.5,
                     2 + d * N_PRODUCTS + i)
                    for d in range(7)
                    for i, p in enumerate(products)
                ],
            )  # fmt: skip
        conn.execute(
            "INSERT INTO warehouse.indicator_observations (series_id, observation_date, value, "
            "published_date, source, frequency) VALUES "
            "('CPIAUCSL', '2026-09-01', 315.2, '2026-10-15', 'fred', 'monthly'), "
            "('CPIAUCSL', '2026-10-01', NULL, '2026-11-13', 'fred', 'monthly')"
        )
        promotions.record_promotion(
            conn,
            promotions.Promotion(
                model_name=MODEL_NAME,
                version=1,
                decision="promoted",
                reason=PROMOTION_REASON,
                decided_by="promotion_gate",
                partition_key=TRAINING_WEEK.isoformat(),
                metric="wape",
                margin=0.01,
                challenger_value=0.18,
            ),
        )
        promotions.record_promotion(  # a later challenger that lost: not the served version
            conn,
            promotions.Promotion(
                model_name=MODEL_NAME,
                version=2,
                decision="kept_challenger",
                reason="kept as challenger: not 1% better than champion v1",
                decided_by="promotion_gate",
                partition_key=WEEK.isoformat(),
            ),
        )
        replace_backtest_metrics(conn, TRAINING_WEEK.isoformat(), backtest_frame(), "mlflow-bt")
        other = backtest_frame().assign(wape=0.99)  # the newer training's figures: not shown
        replace_backtest_metrics(conn, WEEK.isoformat(), other, "mlflow-bt2")
        record, key = keys.create_key(conn, "api tests")
        (promoted_at,) = conn.execute(
            "SELECT decided_at FROM forecasts.model_promotions WHERE version = 1"
        ).fetchone()
    run = publish_run(url, "run-1", WEEK)
    return Warehouse(
        url=url,
        api_url=databases.with_database(url, user=databases.API_ROLE),
        products=products,
        run=run,
        key=key,
        key_id=record.key_id,
        promoted_at=promoted_at,
        sales_merged_at=merged_at,
        last_sale_date=last_sale,
    )


def new_key(url: str, name: str, rate_limit_per_minute: int | None = None) -> tuple[str, str]:
    """A fresh API key (``key_id``, key), as the CLI creates it."""
    with psycopg.connect(url) as conn:
        record, key = keys.create_key(conn, name, rate_limit_per_minute)
    return record.key_id, key


def revoke(url: str, key_id: str) -> None:
    with psycopg.connect(url) as conn:
        assert keys.revoke_key(conn, key_id) is not None
