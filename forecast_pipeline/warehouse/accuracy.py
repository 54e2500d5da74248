"""Reading what realised accuracy needs (published forecasts of a target week, the week's
actuals, the weekly history) and storing the scores in forecasts.realised_accuracy."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import psycopg

from forecast_pipeline.monitoring import accuracy as scoring
from forecast_pipeline.monitoring.accuracy import COMPONENT_COLUMNS, KEY_COLUMNS
from forecast_pipeline.warehouse.frames import copy_frame, read_frame

TOTAL = "total"
LEVELS = ("product", "category", TOTAL)
_BOUNDS = "f.units, f.lower_80, f.upper_80, f.lower_95, f.upper_95"
_PUBLISHED_BEFORE = "r.status = 'published' AND r.forecast_week < %(week)s"


def last_complete_week(conn: psycopg.Connection) -> date | None:
    """The Monday of the last week whose Sunday is in the sales history (None when empty)."""
    row = conn.execute(
        "SELECT date_trunc('week', max(sale_date) + 1)::date - 7 FROM warehouse.sales_history"
    ).fetchone()
    return row[0] if row else None


def load_product_forecasts(conn: psycopg.Connection, target_week: date) -> pd.DataFrame:
    """Every published run's product forecasts of ``target_week`` (runs of earlier weeks)."""
    return read_frame(
        conn,
        f"""
        SELECT f.run_id, r.forecast_week, r.model_version, f.product_id AS series_id,
               f.category, f.step, {_BOUNDS}
        FROM forecasts.product_forecasts f
        JOIN forecasts.forecast_runs r USING (run_id)
        WHERE f.target_week = %(week)s AND {_PUBLISHED_BEFORE}
        """,
        {"week": target_week},
    )


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


def load_weekly_units(conn: psycopg.Connection, level: str, before: date) -> pd.DataFrame:
    """Units sold per week (Monday) before ``before`` at ``level``: per product, per category
    or in total. Returns ``series_id``, ``ds``, ``y``; only weeks with sales."""
    series = {"product": "s.product_id", "category": "p.category", TOTAL: f"'{TOTAL}'"}[level]
    frame = read_frame(
        conn,
        f"""
        SELECT {series} AS series_id, date_trunc('week', s.sale_date)::date AS ds,
               sum(s.units)::float8 AS y
        FROM warehouse.sales_history s
        JOIN warehouse.products p USING (product_id)
        WHERE s.sale_date < %s
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        (before,),
    )
    return frame.assign(ds=pd.to_datetime(frame["ds"]))


def score_week(conn: psycopg.Connection, week: date) -> pd.DataFrame:
    """Every published run's forecasts of ``week`` (a Monday) scored at each level against the
    week's sales: rows of :func:`forecast_pipeline.monitoring.accuracy.score_forecasts`, empty
    when no run forecast the week. The caller checks that the week is complete."""
    frames = []
    target = pd.Timestamp(week)
    for level in LEVELS:
        if level == "product":
            forecasts = load_product_forecasts(conn, week)
        else:
            forecasts = load_category_forecasts(conn, week, level)
        if forecasts.empty:
            continue
        units = load_weekly_units(conn, level, week + timedelta(days=7))
        history = scoring.fill_weeks(units[units["ds"] < target], target - pd.Timedelta(days=7))
        scales = scoring.forecast_scales(history, pd.to_datetime(forecasts["forecast_week"]))
        actuals = units.loc[units["ds"] == target, ["series_id", "y"]].rename(
            columns={"y": "units"}
        )
        frames.append(scoring.score_forecasts(forecasts, actuals, scales, level))
    if not frames:
        return pd.DataFrame(columns=KEY_COLUMNS + COMPONENT_COLUMNS)
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
