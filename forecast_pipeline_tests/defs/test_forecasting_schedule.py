"""The weekly forecast job and its schedule, as Dagster loads them."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from forecast_pipeline.definitions import build_definitions
from forecast_pipeline.defs.forecasting import assets as forecasting
from forecast_pipeline.deployments import Deployment


def test_schedule_requests_the_week_just_ended() -> None:
    schedule = forecasting.weekly_forecast_schedule
    assert schedule.job_name == "weekly_forecast_job"
    assert schedule.cron_schedule == "0 6 * * 1"  # Mondays at 06:00
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    )
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-11-16"]


def test_weekly_job_materialises_the_whole_forecasting_chain() -> None:
    defs = build_definitions(Deployment.LOCAL)
    job = defs.resolve_job_def("weekly_forecast_job")
    assert job.partitions_def == forecasting.weekly
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert keys == {
        "features/weekly_sales",
        "models/tuned_params",
        "models/backtest",
        "models/ensemble",
        "forecasts/product_forecasts",
        "forecasts/top_products",
    }


def test_budgets_are_typed_config_with_defaults() -> None:
    tuning = forecasting.TuningConfig()
    assert (tuning.n_trials, tuning.timeout_seconds, tuning.max_series) == (20, 600.0, 1000)
    budget = tuning.budget()
    assert budget.n_trials == 20 and budget.seed == 0
    spec = forecasting.ForecastConfig(horizon_weeks=26, backtest_windows=2).spec()
    assert (spec.horizon, spec.n_windows, spec.freq) == (26, 2, "W-MON")
    assert spec.interval_windows == {"week": 1, "month": 4}  # the year does not fit in 26 weeks
