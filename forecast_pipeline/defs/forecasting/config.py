"""Run configuration of the weekly forecast: typed, shown in the Dagster launchpad."""

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from forecast_pipeline.ml import ForecastSpec, TuningBudget

__all__ = ["ForecastConfig", "TuningConfig"]


class ForecastConfig(dg.Config):
    """Budgets and knobs of the weekly forecast (typed, shown in the launchpad)."""

    horizon_weeks: int = 52
    backtest_windows: int = 3
    backtest_step_weeks: int = 4
    product_models: list[str] = Field(
        default=["seasonal_naive", "moving_average", "tsb", "lightgbm", "xgboost"],
        description="Models fitted on every product (baselines and the global GBMs).",
    )
    aggregate_models: list[str] = Field(
        default=["seasonal_naive", "auto_ets", "prophet"],
        description="Models fitted directly on the category and total series.",
    )
    country: str = Field(default="US", description="Public holidays used as features.")
    cold_start_weeks: int = Field(
        default=8, description="Products with less history get the category-based fallback."
    )
    num_threads: int = 2
    seed: int = 0

    def spec(self) -> "ForecastSpec":
        from forecast_pipeline.ml import ForecastSpec

        return ForecastSpec(
            horizon=self.horizon_weeks,
            n_windows=self.backtest_windows,
            step_size=self.backtest_step_weeks,
            product_models=tuple(self.product_models),
            aggregate_models=tuple(self.aggregate_models),
            country=self.country,
            cold_start_steps=self.cold_start_weeks,
            num_threads=self.num_threads,
            seed=self.seed,
        )


class TuningConfig(dg.Config):
    """Optuna budget of the weekly hyper-parameter search (per tuned model)."""

    models: list[str] = Field(
        default=["lightgbm"], description="Global models to tune (lightgbm, xgboost)."
    )
    n_trials: int = Field(default=20, description="Largest number of trials per model.")
    timeout_seconds: float = Field(default=600.0, description="Wall-time budget per model.")
    max_series: int = Field(default=1000, description="Products sampled for the trials.")
    n_windows: int = Field(
        default=2, description="Latest backtest windows each trial runs (pruning steps)."
    )
    seed: int = 0
    forecast: ForecastConfig = Field(
        default_factory=ForecastConfig,
        description="The forecast settings the trials backtest with (keep them equal to the "
        "backtest's).",
    )

    def budget(self) -> "TuningBudget":
        from forecast_pipeline.ml import TuningBudget

        return TuningBudget(
            n_trials=self.n_trials,
            timeout_seconds=self.timeout_seconds,
            max_series=self.max_series,
            n_windows=self.n_windows,
            seed=self.seed,
        )
