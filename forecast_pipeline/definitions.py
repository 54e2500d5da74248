"""The Dagster code location: assets, checks, jobs, schedules and sensors with their resources.

Loading this module reads one environment variable, ``FORECAST_DEPLOYMENT`` (through
:func:`forecast_pipeline.deployments.current_deployment`), to pick the resource mapping; every
other setting is a ``dg.EnvVar`` resolved when a run starts. Nothing connects anywhere here.
"""

from __future__ import annotations

import dagster as dg

from forecast_pipeline.defs.forecasting import assets as forecasting
from forecast_pipeline.defs.forecasting import jobs as forecasting_jobs
from forecast_pipeline.defs.forecasting import promotion, publishing
from forecast_pipeline.defs.indicators import assets as indicators
from forecast_pipeline.defs.ingest import assets as ingest
from forecast_pipeline.defs.ingest import sensors as ingest_sensors
from forecast_pipeline.defs.monitoring import accuracy as monitoring
from forecast_pipeline.defs.monitoring import alerts, drift, retraining
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
            promotion.challenger,
            promotion.champion,
            publishing.published_forecasts,
            publishing.top_products_view,
            monitoring.realised_accuracy,
        ],
        asset_checks=[promotion.promotion_gate, monitoring.error_drift, drift.input_drift],
        jobs=[
            ingest_sensors.ingest_upload_job,
            indicators.indicators_job,
            forecasting_jobs.weekly_training_job,
            forecasting_jobs.weekly_publish_job,
        ],
        schedules=[indicators.indicators_schedule, forecasting_jobs.weekly_training_schedule],
        sensors=[
            ingest_sensors.landing_zone_sensor,
            forecasting_jobs.publish_after_training,
            forecasting_jobs.publish_after_failed_training,
            alerts.alert_on_run_failure,
            alerts.alert_on_check_failure,
            retraining.retrain_on_error_drift,
        ],
        resources=resources_for(deployment),
    )


defs = build_definitions(current_deployment())
