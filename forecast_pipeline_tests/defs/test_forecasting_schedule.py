"""The weekly training and publishing jobs, their schedule and chaining, as Dagster loads them."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from forecast_pipeline.definitions import build_definitions
from forecast_pipeline.defs.forecasting import jobs
from forecast_pipeline.defs.forecasting.config import ForecastConfig, TuningConfig
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.deployments import Deployment


def test_schedule_requests_the_week_just_ended() -> None:
    schedule = jobs.weekly_training_schedule
    assert schedule.job_name == "weekly_training_job"
    assert schedule.cron_schedule == "0 6 * * 1"  # Mondays at 06:00
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    )
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-11-16"]


def test_training_job_ends_with_the_gated_promotion_and_publishing_is_its_own_job() -> None:
    defs = build_definitions(Deployment.LOCAL)
    training = defs.resolve_job_def("weekly_training_job")
    assert training.partitions_def == weekly
    keys = {key.to_user_string() for key in training.asset_layer.executable_asset_keys}
    assert keys == {
        "features/weekly_sales",
        "models/tuned_params",
        "models/backtest",
        "models/ensemble",
        "models/challenger",
        "models/champion",
    }
    gate = dg.AssetCheckKey(dg.AssetKey(["models", "challenger"]), "promotion_gate")
    assert gate in training.asset_layer.asset_graph.asset_check_keys
    assert defs.get_asset_checks_def(gate).check_specs_by_output_name
    assert next(iter(defs.get_asset_checks_def(gate).check_specs)).blocking
    publish = defs.resolve_job_def("weekly_publish_job")
    keys = {key.to_user_string() for key in publish.asset_layer.executable_asset_keys}
    assert keys == {
        "forecasts/product_forecasts",
        "forecasts/category_forecasts",
        "forecasts/category_outlook",
        "forecasts/category_history",
        "forecasts/top_products",
        "monitoring/realised_accuracy",
    }
    drift = dg.AssetCheckKey(dg.AssetKey(["monitoring", "realised_accuracy"]), "error_drift")
    assert drift in publish.asset_layer.asset_graph.asset_check_keys
    assert not next(iter(defs.get_asset_checks_def(drift).check_specs)).blocking


def test_budgets_are_typed_config_with_defaults() -> None:
    tuning = TuningConfig()
    assert (tuning.n_trials, tuning.timeout_seconds, tuning.max_series) == (20, 600.0, 1000)
    budget = tuning.budget()
    assert budget.n_trials == 20 and budget.seed == 0
    spec = ForecastConfig(horizon_weeks=26, backtest_windows=2).spec()
    assert (spec.horizon, spec.n_windows, spec.freq) == (26, 2, "W-MON")
    assert spec.interval_windows == {"week": 1, "month": 4}  # the year does not fit in 26 weeks
