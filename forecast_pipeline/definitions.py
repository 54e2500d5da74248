"""The Dagster code location: assets, checks, jobs, schedules and sensors with their resources.

Loading this module reads one environment variable, ``FORECAST_DEPLOYMENT`` (through
:func:`forecast_pipeline.deployments.current_deployment`), to pick the resource mapping; every
other setting is a ``dg.EnvVar`` resolved when a run starts. Nothing connects anywhere here.
"""

from __future__ import annotations

import dagster as dg

from forecast_pipeline.defs.forecasting import assets as forecasting
from forecast_pipeline.defs.indicators import assets as indicators
from forecast_pipeline.defs.ingest import assets as ingest
from forecast_pipeline.defs.ingest import sensors as ingest_sensors
from forecast_pipeline.deployments import Deployment, current_deployment, resources_for


def build_definitions(deployment: Deployment) -> dg.Definitions:
    """All definitions, with the resources of ``deployment``."""
    return dg.Definitions(
        assets=[
            ingest.sales_file,
            ingest.sales_rows,
            ingest.sales_history,
            indicators.indicator_observations,
            forecasting.weekly_sales,
            forecasting.tuned_params,
            forecasting.backtest,
            forecasting.ensemble,
            forecasting.published_forecasts,
            forecasting.top_products_view,
        ],
        jobs=[
            ingest_sensors.ingest_upload_job,
            indicators.indicators_job,
            forecasting.weekly_forecast_job,
        ],
        schedules=[indicators.indicators_schedule, forecasting.weekly_forecast_schedule],
        sensors=[ingest_sensors.landing_zone_sensor],
        resources=resources_for(deployment),
    )


defs = build_definitions(current_deployment())
