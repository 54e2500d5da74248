"""The end-to-end demo of the local deployment: sample files in, published forecasts out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd
import psycopg
from psycopg import sql

from forecast_pipeline.defs.resources import LocalLandingZone
from forecast_pipeline.deployments import Deployment
from forecast_pipeline.local_stack import prepare_local_stack
from forecast_pipeline.runner import StageTimer, TrainingOutcome, run_pipeline
from forecast_pipeline.sample import SampleConfig, write_sales_uploads
from forecast_pipeline.settings import PlatformSettings
from forecast_pipeline.warehouse import sales
from forecast_pipeline.warehouse.frames import read_frame

COUNTED_TABLES = (
    "warehouse.uploads",
    "warehouse.upload_rejections",
    "warehouse.sales_history",
    "warehouse.products",
    "warehouse.indicator_observations",
    "forecasts.forecast_runs",
    "forecasts.product_forecasts",
    "forecasts.top_products",
    "forecasts.category_forecasts",
    "forecasts.category_outlook",
    "forecasts.backtest_metrics",
    "forecasts.realised_accuracy",
)


@dataclass
class DemoReport:
    """What one demo run produced and where to find it."""

    env: dict[str, str]
    sample_files: int
    new_uploads: list[str]
    forecast_week: str
    uploads: pd.DataFrame
    leaderboard: pd.DataFrame
    top_products: pd.DataFrame
    latest_run: pd.DataFrame
    promotions: pd.DataFrame
    accuracy: pd.DataFrame
    trainings: list[TrainingOutcome]
    row_counts: dict[str, int]
    stage_seconds: dict[str, float] = field(default_factory=dict)


# A lighter search than the weekly default (20 trials) so that the demo stays around a minute.
DEMO_TUNING = {"n_trials": 8, "timeout_seconds": 90.0}


def run_demo(
    settings: PlatformSettings, sample: SampleConfig, log_level: str = "WARNING", weeks: int = 2
) -> DemoReport:
    """Prepare the local stack, drop the sample into the landing zone and run the whole graph.

    The last ``weeks`` weekly partitions are trained and published in order, as the weekly
    schedule would have: the first trained model becomes champion if it beats the baselines,
    each later one only if it also beats the champion (see the promotion history in the
    report), and each publication scores the earlier runs' forecasts of its week (the
    report's realised accuracy of the last week).

    ``log_level`` is what the runs print on the console; every event is stored in the instance
    and shown in the Dagster UI.
    Running it again finds nothing new in the landing zone and republishes the same week, so
    no table grows.
    """
    from forecast_pipeline.definitions import build_definitions

    timer = StageTimer()
    with timer.stage("local stack (Postgres, databases, migrations)"):
        env = prepare_local_stack(settings)
        os.environ.update(env)
    with timer.stage("sample files"):
        files = write_sales_uploads(settings.landing_dir, sample)
    defs = build_definitions(Deployment.LOCAL)
    landing = LocalLandingZone(root=str(settings.landing_dir), settle_seconds=0)
    warehouse_url = env["FORECAST_WAREHOUSE_URL"]

    def last_sale_date():
        with psycopg.connect(warehouse_url) as conn:
            span = sales.sales_date_range(conn)
        if span is None:
            raise RuntimeError("the sales history is empty after ingestion")
        return span[1]

    with dg.DagsterInstance.get() as instance:
        result = run_pipeline(
            defs,
            instance,
            landing,
            last_sale_date,
            timer,
            log_level=log_level,
            tuning_config=DEMO_TUNING,
            weeks=weeks,
        )
    week = result.week
    with psycopg.connect(warehouse_url) as conn:
        return DemoReport(
            env=env,
            sample_files=len(files),
            new_uploads=result.ingested,
            forecast_week=week,
            uploads=read_frame(
                conn,
                "SELECT count(*) AS files, sum(rows_read) AS rows_read, "
                "sum(rows_accepted) AS rows_accepted, sum(rows_rejected) AS rows_rejected "
                "FROM warehouse.uploads",
            ),
            leaderboard=read_frame(
                conn,
                "SELECT level, model_name, round(wape::numeric, 4) AS wape, "
                "round(mase::numeric, 3) AS mase, round(mae::numeric, 2) AS mae, "
                "round(bias::numeric, 4) AS bias FROM analytics.backtest_leaderboard "
                "WHERE forecast_week = %s ORDER BY level, wape",
                (week,),
            ),
            top_products=read_frame(
                conn,
                "SELECT category, rank, product_id, product_name, "
                "round(predicted_units::numeric, 1) AS units_next_week, trend "
                "FROM analytics.top_products WHERE time_period = 'week' AND rank <= 3 "
                "ORDER BY category, rank",
            ),
            latest_run=read_frame(conn, "SELECT * FROM analytics.latest_forecast_run"),
            promotions=read_frame(
                conn,
                "SELECT version, decision, training_week, "
                "coalesce(previous_champion_version::text, '-') AS previous, "
                "round(challenger_value::numeric, 4) AS challenger, "
                "coalesce(round(champion_value::numeric, 4)::text, '-') AS champion, "
                "baseline_model, round(baseline_value::numeric, 4) AS baseline, decided_at "
                "FROM analytics.model_promotions ORDER BY decided_at",
            ),
            accuracy=read_frame(
                conn,
                "SELECT level, forecast_week, horizon, model_version, "
                "round((sum(wape * actual_units) / nullif(sum(actual_units), 0))::numeric, 4) "
                "AS wape, "
                "round((sum(bias * actual_units) / nullif(sum(actual_units), 0))::numeric, 4) "
                "AS bias, "
                "round((sum(coverage_80 * n_series) / sum(n_series))::numeric, 3) AS coverage_80, "
                "sum(n_series) AS series FROM analytics.realised_accuracy "
                "WHERE target_week = %s GROUP BY 1, 2, 3, 4 "
                "ORDER BY array_position(ARRAY['product', 'category', 'total'], level), 2",
                (week,),
            ),
            trainings=result.trainings,
            row_counts=table_row_counts(conn),
            stage_seconds=timer.seconds,
        )


# A re-run of a week keeps the record of the run it superseded; only published runs count.
COUNT_FILTERS = {"forecasts.forecast_runs": sql.SQL(" WHERE status = 'published'")}


def table_row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Row counts of the warehouse and forecast tables (the demo's idempotence check);
    ``forecasts.forecast_runs`` counts the published runs only."""
    counts = {}
    for table in COUNTED_TABLES:
        schema, name = table.split(".")
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
        query += COUNT_FILTERS.get(table, sql.SQL(""))
        row = conn.execute(query).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts
