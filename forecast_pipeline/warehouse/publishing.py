"""Publishing a weekly forecast run: its rows replace the week's previous run atomically;
partitions of forecasts.product_forecasts per week; retention."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
import psycopg
from psycopg import sql

from forecast_pipeline.warehouse.frames import copy_frame

PRODUCT_FORECAST_COLUMNS = [
    "forecast_week", "run_id", "product_id", "category", "target_week", "step",
    "units", "lower_80", "upper_80", "lower_95", "upper_95", "cold_start",
]  # fmt: skip
CATEGORY_FORECAST_COLUMNS = [
    "run_id", "level", "category", "target_week", "step",
    "units", "lower_80", "upper_80", "lower_95", "upper_95",
]  # fmt: skip
CATEGORY_OUTLOOK_COLUMNS = [
    "run_id", "level", "category", "time_period", "predicted_units",
    "lower_80", "upper_80", "lower_95", "upper_95", "previous_units", "change_pct",
    "last_year_units", "change_vs_last_year_pct", "trend",
]  # fmt: skip
TOP_PRODUCT_COLUMNS = [
    "run_id", "category", "time_period", "rank", "product_id", "product_name",
    "predicted_units", "lower_80", "upper_80", "previous_units", "change_pct", "trend",
    "unit_price", "predicted_revenue", "last_year_units", "change_vs_last_year_pct",
    "action", "cold_start",
]  # fmt: skip
CATEGORY_HISTORY_COLUMNS = ["run_id", "level", "category", "week", "units"]
PUBLISHED_CHANNEL = "forecast_published"
BACKTEST_COLUMNS = [
    "partition_key", "model_name", "level", "cutoff",
    "mae", "rmse", "wape", "mase", "bias", "r2",
    "coverage_80", "width_80", "coverage_95", "width_95", "mlflow_run_id",
]  # fmt: skip
PARTITION_PREFIX = "product_forecasts_w"


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

    @property
    def forecast_week(self) -> date:
        return date.fromisoformat(self.partition_key)


@dataclass(frozen=True)
class PublishedTables:
    """The rows of one run, as frames with the columns of the tables (``run_id`` and
    ``forecast_week`` are added when publishing)."""

    product_forecasts: pd.DataFrame
    top_products: pd.DataFrame
    category_forecasts: pd.DataFrame
    category_outlook: pd.DataFrame
    category_history: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=CATEGORY_HISTORY_COLUMNS[1:])
    )


def partition_name(week: date) -> str:
    """The product_forecasts partition of a forecast week."""
    return f"{PARTITION_PREFIX}{week:%Y%m%d}"


def ensure_week_partition(conn: psycopg.Connection, week: date) -> str:
    """Create the week's partition of forecasts.product_forecasts if it does not exist.

    Creating a partition locks the parent table, so call it in its own short transaction
    *before* publishing, never inside the publishing transaction.
    """
    if week.weekday() != 0:
        raise ValueError(f"forecast weeks start on Mondays, got {week} ({week:%A})")
    name = partition_name(week)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF forecasts.product_forecasts "
            "FOR VALUES FROM ({}) TO ({})"
        ).format(
            sql.Identifier("forecasts", name),
            sql.Literal(week),
            sql.Literal(week + timedelta(days=7)),
        )
    )
    return name


def publish_forecast_run(
    conn: psycopg.Connection, run: ForecastRun, tables: PublishedTables
) -> list[str]:
    """Publish ``run`` and its rows, superseding the week's previous run, in one transaction.

    Readers see the previous run or this one, never a mix: the previous run is marked
    ``superseded`` and its rows are deleted in the same transaction that inserts the new ones,
    and nothing is visible before the caller's transaction commits. Publishers are serialised
    by a SHARE ROW EXCLUSIVE lock on forecasts.forecast_runs, which readers never wait for and
    the read-only role cannot take. The week's partition must exist
    (:func:`ensure_week_partition`). Returns the ids of the superseded runs.
    """
    week = run.forecast_week
    conn.execute("LOCK TABLE forecasts.forecast_runs IN SHARE ROW EXCLUSIVE MODE")
    superseded = [
        row[0]
        for row in conn.execute(
            """
            UPDATE forecasts.forecast_runs SET status = 'superseded', superseded_at = now()
            WHERE forecast_week = %s AND status = 'published'
            RETURNING run_id
            """,
            (week,),
        ).fetchall()
    ]
    if superseded:
        conn.execute(
            "DELETE FROM forecasts.product_forecasts WHERE forecast_week = %s AND run_id = ANY(%s)",
            (week, superseded),
        )
        for table in ("top_products", "category_forecasts", "category_outlook", "category_history"):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE run_id = ANY(%s)").format(
                    sql.Identifier("forecasts", table)
                ),
                (superseded,),
            )
    conn.execute(
        """
        INSERT INTO forecasts.forecast_runs
            (run_id, partition_key, forecast_week, origin, model_name, model_version,
             mlflow_run_id, dagster_run_id, data_start, data_end, horizon_weeks, n_products)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            run.run_id,
            run.partition_key,
            week,
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
    keyed = {"run_id": run.run_id}
    copy_frame(
        conn,
        "forecasts.product_forecasts",
        tables.product_forecasts.assign(forecast_week=week, **keyed),
        PRODUCT_FORECAST_COLUMNS,
    )
    for table, frame, columns in (
        ("forecasts.top_products", tables.top_products, TOP_PRODUCT_COLUMNS),
        ("forecasts.category_forecasts", tables.category_forecasts, CATEGORY_FORECAST_COLUMNS),
        ("forecasts.category_outlook", tables.category_outlook, CATEGORY_OUTLOOK_COLUMNS),
        ("forecasts.category_history", tables.category_history, CATEGORY_HISTORY_COLUMNS),
    ):
        copy_frame(conn, table, frame.assign(**keyed), columns)
    # delivered when the transaction commits: the API's caches switch to the new run
    conn.execute("SELECT pg_notify(%s, %s)", (PUBLISHED_CHANNEL, run.run_id))
    return superseded


@dataclass(frozen=True)
class RetentionResult:
    """What :func:`apply_retention` removed."""

    dropped_partitions: list[str]
    deleted_runs: int


def apply_retention(conn: psycopg.Connection) -> RetentionResult:
    """Apply forecasts.retention_policy relative to the newest published week.

    Product-forecast partitions of weeks at least ``keep_weeks`` older than the newest are
    detached (``CONCURRENTLY``: readers are not blocked) and dropped; runs older than the
    ``runs`` policy are deleted with their category forecasts, outlook and top products.
    ``conn`` must be in autocommit mode (a concurrent detach cannot run in a transaction).
    """
    if not conn.autocommit:
        raise ValueError("apply_retention needs an autocommit connection")
    newest = conn.execute(
        "SELECT max(forecast_week) FROM forecasts.forecast_runs WHERE status = 'published'"
    ).fetchone()
    if newest is None or newest[0] is None:
        return RetentionResult([], 0)
    policy = dict(conn.execute("SELECT data, keep_weeks FROM forecasts.retention_policy"))
    dropped = []
    if "product_forecasts" in policy:
        oldest_kept = newest[0] - timedelta(weeks=policy["product_forecasts"] - 1)
        for name, pending in conn.execute(
            """
            SELECT c.relname, i.inhdetachpending FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace n ON n.oid = p.relnamespace
            WHERE n.nspname = 'forecasts' AND p.relname = 'product_forecasts'
            ORDER BY c.relname
            """
        ).fetchall():
            week = _partition_week(name)
            if week is not None and week < oldest_kept:
                table = sql.Identifier("forecasts", name)
                # a detach interrupted earlier is finished instead of started again
                mode = sql.SQL("FINALIZE" if pending else "CONCURRENTLY")
                conn.execute(
                    sql.SQL(
                        "ALTER TABLE forecasts.product_forecasts DETACH PARTITION {} {}"
                    ).format(table, mode)
                )
                conn.execute(sql.SQL("DROP TABLE {}").format(table))
                dropped.append(name)
    deleted = 0
    if "runs" in policy:
        oldest_kept = newest[0] - timedelta(weeks=policy["runs"] - 1)
        cursor = conn.execute(
            "DELETE FROM forecasts.forecast_runs WHERE forecast_week < %s", (oldest_kept,)
        )
        deleted = cursor.rowcount
    return RetentionResult(dropped, deleted)


def _partition_week(name: str) -> date | None:
    if not name.startswith(PARTITION_PREFIX):
        return None
    try:
        return datetime.strptime(name[len(PARTITION_PREFIX) :], "%Y%m%d").date()
    except ValueError:
        return None


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
