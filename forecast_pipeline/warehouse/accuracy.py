"""Reading what realised accuracy needs (published forecasts of a target week, the week's
actuals, the weekly history) and storing the scores in forecasts.realised_accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pandas as pd
import psycopg
import pyarrow as pa

from forecast_pipeline.monitoring import accuracy as scoring
from forecast_pipeline.monitoring.accuracy import COMPONENT_COLUMNS, KEY_COLUMNS
from forecast_pipeline.warehouse.frames import copy_frame, read_csv_frame, read_frame

TOTAL = "total"
LEVELS = ("product", "category", TOTAL)
_BOUNDS = "f.units, f.lower_80, f.upper_80, f.lower_95, f.upper_95"
_PUBLISHED_BEFORE = "r.status = 'published' AND r.forecast_week < %(week)s"


# The product forecasts of a week W are in the partitions of the weeks before W within the
# longest horizon (the others are pruned at plan time). Within a partition the rows are in
# product order (as published), so the rows of one target week lie on nearly every page: an
# index on target_week would read the same pages as a scan, in a worse order (measured with
# the (category, target_week) index: 25-80% slower than the parallel sequential scan).
_HORIZON_START_SQL = """
SELECT %(week)s::date - 7 * max(horizon_weeks) FROM forecasts.forecast_runs
WHERE status = 'published' AND forecast_week < %(week)s
"""
PRODUCT_FORECASTS_SQL = f"""
SELECT f.run_id, r.forecast_week, r.model_version, f.product_id AS series_id,
       f.category, f.step, {_BOUNDS}
FROM forecasts.product_forecasts f
JOIN forecasts.forecast_runs r USING (run_id)
WHERE f.target_week = %(week)s
  AND f.forecast_week >= %(since)s AND f.forecast_week < %(week)s
  AND {_PUBLISHED_BEFORE}
"""
# summed per product and week first (a parallel hash aggregate), then joined to the products
WEEKLY_UNITS_SQL = """
SELECT w.product_id, p.category, w.ds, w.y
FROM (
    SELECT product_id, date_trunc('week', sale_date)::date AS ds, sum(units)::float8 AS y
    FROM warehouse.sales_history
    WHERE sale_date < %(before)s
    GROUP BY 1, 2
) w
JOIN warehouse.products p USING (product_id)
"""
_FORECAST_TYPES = {
    "run_id": pa.string(),
    "forecast_week": pa.date32(),
    "model_version": pa.string(),
    "series_id": pa.string(),
    "category": pa.string(),
    "step": pa.int64(),
    **dict.fromkeys(["units", "lower_80", "upper_80", "lower_95", "upper_95"], pa.float64()),
}
_UNITS_TYPES = {
    "product_id": pa.string(),
    "category": pa.string(),
    "ds": pa.date32(),
    "y": pa.float64(),
}


def last_complete_week(conn: psycopg.Connection) -> date | None:
    """The Monday of the last week whose Sunday is in the sales history (None when empty)."""
    row = conn.execute(
        "SELECT date_trunc('week', max(sale_date) + 1)::date - 7 FROM warehouse.sales_history"
    ).fetchone()
    return row[0] if row else None


def load_product_forecasts(conn: psycopg.Connection, target_week: date) -> pd.DataFrame:
    """Every published run's product forecasts of ``target_week`` (runs of earlier weeks)."""
    params: dict[str, object] = {"week": target_week}
    (params["since"],) = conn.execute(_HORIZON_START_SQL, params).fetchone()
    with _without_jit(conn):
        frame = read_csv_frame(conn, PRODUCT_FORECASTS_SQL, params, _FORECAST_TYPES)
    return frame.assign(forecast_week=frame["forecast_week"].astype("datetime64[ns]"))


@contextmanager
def _without_jit(conn: psycopg.Connection) -> Iterator[None]:
    """JIT compilation off for the block's statements: compiling a scan of many partitions
    takes seconds, more than it saves. Within a transaction (or a savepoint of the
    caller's)."""
    with conn.transaction():
        (previous,) = conn.execute("SELECT current_setting('jit')").fetchone()
        conn.execute("SET LOCAL jit = off")
        yield
        conn.execute("SELECT set_config('jit', %s, true)", (previous,))


def load_category_forecasts(
    conn: psycopg.Connection, target_week: date, level: str
) -> pd.DataFrame:
    """Every published run's ``category`` or ``total`` forecasts of ``target_week``."""
    return read_frame(
        conn,
        f"""
        SELECT f.run_id, r.forecast_week, r.model_version, f.category AS series_id,
               f.category, f.step, {_BOUNDS}
        FROM forecasts.category_forecasts f
        JOIN forecasts.forecast_runs r USING (run_id)
        WHERE f.target_week = %(week)s AND f.level = %(level)s AND {_PUBLISHED_BEFORE}
        """,
        {"week": target_week, "level": level},
    )


def load_weekly_units(conn: psycopg.Connection, before: date) -> pd.DataFrame:
    """Units sold per product and week (Monday) before ``before``: ``product_id``,
    ``category``, ``ds``, ``y``; only weeks with sales. :func:`level_units` sums them per
    category or in total."""
    frame = read_csv_frame(conn, WEEKLY_UNITS_SQL, {"before": before}, _UNITS_TYPES)
    return frame.assign(ds=frame["ds"].astype("datetime64[ns]"))


def level_units(units: pd.DataFrame, level: str) -> pd.DataFrame:
    """The weekly ``units`` of :func:`load_weekly_units` at ``level``: per product, per
    category or in total (``series_id``, ``ds``, ``y``)."""
    if level == "product":
        return units.rename(columns={"product_id": "series_id"})[["series_id", "ds", "y"]]
    if level == TOTAL:
        units = units.assign(category=TOTAL)
    summed = units.groupby(["category", "ds"], as_index=False, sort=True)["y"].sum()
    return summed.rename(columns={"category": "series_id"})


def score_week(conn: psycopg.Connection, week: date) -> pd.DataFrame:
    """Every published run's forecasts of ``week`` (a Monday) scored at each level against the
    week's sales: rows of :func:`forecast_pipeline.monitoring.accuracy.score_forecasts`, empty
    when no run forecast the week. The caller checks that the week is complete."""
    forecasts = {"product": load_product_forecasts(conn, week)}
    for level in LEVELS[1:]:
        forecasts[level] = load_category_forecasts(conn, week, level)
    forecasts = {level: frame for level, frame in forecasts.items() if not frame.empty}
    if not forecasts:
        return pd.DataFrame(columns=KEY_COLUMNS + COMPONENT_COLUMNS)
    target = pd.Timestamp(week)
    units = load_weekly_units(conn, week + timedelta(days=7))  # one query for the three levels
    frames = []
    for level, level_forecasts in forecasts.items():
        weekly = level_units(units, level)
        history = scoring.fill_weeks(weekly[weekly["ds"] < target], target - pd.Timedelta(days=7))
        weeks = pd.to_datetime(level_forecasts["forecast_week"])
        scales = scoring.forecast_scales(history, weeks)
        actuals = weekly.loc[weekly["ds"] == target, ["series_id", "y"]].rename(
            columns={"y": "units"}
        )
        frames.append(scoring.score_forecasts(level_forecasts, actuals, scales, level))
    return pd.concat(frames, ignore_index=True)


def replace_realised_accuracy(
    conn: psycopg.Connection, target_week: date, components: pd.DataFrame
) -> int:
    """Replace the scores of ``target_week`` with ``components`` (rows of
    :func:`forecast_pipeline.monitoring.accuracy.score_forecasts`)."""
    conn.execute("DELETE FROM forecasts.realised_accuracy WHERE target_week = %s", (target_week,))
    frame = components.assign(target_week=target_week)
    return copy_frame(
        conn,
        "forecasts.realised_accuracy",
        frame,
        ["target_week", *KEY_COLUMNS, *COMPONENT_COLUMNS],
    )


def load_realised_accuracy(
    conn: psycopg.Connection, until: date, weeks: int | None = None
) -> pd.DataFrame:
    """Stored components of the target weeks up to ``until`` (the last ``weeks`` of them, or
    all), with their :data:`KEY_COLUMNS` and ``target_week``."""
    since = date.min if weeks is None else until - pd.Timedelta(weeks=weeks - 1)
    frame = read_frame(
        conn,
        f"""
        SELECT target_week, {", ".join(KEY_COLUMNS + COMPONENT_COLUMNS)}
        FROM forecasts.realised_accuracy
        WHERE target_week BETWEEN %s AND %s
        ORDER BY target_week, level, category, horizon
        """,
        (since, until),
    )
    return frame.assign(target_week=pd.to_datetime(frame["target_week"]))


def backtest_window_wapes(
    conn: psycopg.Connection, model_name: str, version: int
) -> tuple[str | None, pd.DataFrame]:
    """The training week of a registered model version and the ensemble's WAPE in each of its
    backtest windows per level (``level``, ``cutoff``, ``wape``); (None, empty) when the
    version has no recorded training."""
    row = conn.execute(
        """
        SELECT partition_key FROM forecasts.model_promotions
        WHERE model_name = %s AND version = %s AND partition_key IS NOT NULL
        ORDER BY decided_at LIMIT 1
        """,
        (model_name, version),
    ).fetchone()
    if row is None:
        return None, pd.DataFrame(columns=["level", "cutoff", "wape"])
    frame = read_frame(
        conn,
        """
        SELECT level, cutoff, wape FROM forecasts.backtest_metrics
        WHERE partition_key = %s AND model_name = 'ensemble' AND cutoff IS NOT NULL
        ORDER BY level, cutoff
        """,
        (row[0],),
    )
    return row[0], frame


def latest_published_model(conn: psycopg.Connection, before: date) -> tuple[str, str] | None:
    """Model name and version of the latest run published for a week before ``before``."""
    row = conn.execute(
        """
        SELECT model_name, model_version FROM forecasts.forecast_runs
        WHERE status = 'published' AND forecast_week < %s
        ORDER BY forecast_week DESC LIMIT 1
        """,
        (before,),
    ).fetchone()
    return (row[0], row[1]) if row else None
