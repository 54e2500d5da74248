"""Publishing a weekly forecast run: its rows replace the partition's previous run atomically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg

from forecast_pipeline.warehouse.frames import copy_frame

PRODUCT_FORECAST_COLUMNS = [
    "run_id", "product_id", "category", "target_week", "step",
    "units", "lower_80", "upper_80", "lower_95", "upper_95", "cold_start",
]  # fmt: skip
TOP_PRODUCT_COLUMNS = [
    "run_id", "category", "time_period", "rank", "product_id", "product_name",
    "predicted_units", "lower_80", "upper_80", "previous_units", "change_pct", "trend",
]  # fmt: skip
BACKTEST_COLUMNS = [
    "partition_key", "model_name", "level", "cutoff",
    "mae", "rmse", "wape", "mase", "bias", "r2",
    "coverage_80", "width_80", "coverage_95", "width_95", "mlflow_run_id",
]  # fmt: skip


@dataclass(frozen=True)
class ForecastRun:
    run_id: str
    partition_key: str
    origin: date
    model_name: str
    model_version: str
    mlflow_run_id: str | None
    dagster_run_id: str | None
    data_start: date
    data_end: date
    horizon_weeks: int
    n_products: int


def publish_forecast_run(
    conn: psycopg.Connection,
    run: ForecastRun,
    product_forecasts: pd.DataFrame,
    top_products: pd.DataFrame,
) -> None:
    """Replace the partition's published run with ``run`` and its rows, in one transaction.

    Readers see the previous run or this one, never a mix: the delete (cascading to the old
    rows) and the inserts commit together when the caller's transaction ends.
    """
    conn.execute(
        "DELETE FROM forecasts.forecast_runs WHERE partition_key = %s", (run.partition_key,)
    )
    conn.execute(
        """
        INSERT INTO forecasts.forecast_runs
            (run_id, partition_key, origin, model_name, model_version, mlflow_run_id,
             dagster_run_id, data_start, data_end, horizon_weeks, n_products)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            run.run_id,
            run.partition_key,
            run.origin,
            run.model_name,
            run.model_version,
            run.mlflow_run_id,
            run.dagster_run_id,
            run.data_start,
            run.data_end,
            run.horizon_weeks,
            run.n_products,
        ),
    )
    copy_frame(
        conn,
        "forecasts.product_forecasts",
        product_forecasts.assign(run_id=run.run_id),
        PRODUCT_FORECAST_COLUMNS,
    )
    copy_frame(
        conn, "forecasts.top_products", top_products.assign(run_id=run.run_id), TOP_PRODUCT_COLUMNS
    )


def replace_backtest_metrics(
    conn: psycopg.Connection, partition_key: str, metrics: pd.DataFrame, mlflow_run_id: str | None
) -> int:
    """Replace the partition's backtest metrics (one row per model, level and cutoff)."""
    conn.execute(
        "DELETE FROM forecasts.backtest_metrics WHERE partition_key = %s", (partition_key,)
    )
    frame = metrics.rename(columns={"model": "model_name"}).assign(
        partition_key=partition_key, mlflow_run_id=mlflow_run_id
    )
    return copy_frame(conn, "forecasts.backtest_metrics", frame, BACKTEST_COLUMNS)


def backtest_mlflow_run(conn: psycopg.Connection, partition_key: str) -> str | None:
    """The MLflow run that recorded the partition's backtest, if any."""
    row = conn.execute(
        "SELECT max(mlflow_run_id) FROM forecasts.backtest_metrics WHERE partition_key = %s",
        (partition_key,),
    ).fetchone()
    return row[0] if row else None
