"""Optuna tuning of the global models within a budget."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast_pipeline import ml
from forecast_pipeline_tests.ml.synthetic import categories_for, make_weekly


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return make_weekly(n_series=12, n_weeks=130)


def test_tuning_is_seeded_bounded_and_starts_from_the_defaults(series: pd.DataFrame) -> None:
    spec = ml.ForecastSpec(num_threads=1, horizon=12, n_windows=2)
    budget = ml.TuningBudget(n_trials=6, timeout_seconds=300, max_series=8, n_windows=2, seed=3)
    runs = [
        ml.tune(series, spec, budget, "lightgbm", categories=categories_for(series))
        for _ in range(2)
    ]
    first, second = runs
    assert len(first.trials) == 6
    assert set(first.trials["state"]) <= {"COMPLETE", "PRUNED"}
    # trial 0 evaluates the default parameters
    assert first.trials.loc[0, "n_estimators"] == spec.lgbm_params["n_estimators"]
    assert first.trials.loc[0, "learning_rate"] == spec.lgbm_params["learning_rate"]
    assert first.best_wape <= first.default_wape
    complete = first.trials[first.trials["state"] == "COMPLETE"]
    best = complete.loc[complete["value"].idxmin()]
    assert first.params["n_estimators"] == best["n_estimators"]
    assert first.best_wape == pytest.approx(best["value"])
    # same seed, same search
    pd.testing.assert_frame_equal(
        first.trials.drop(columns="seconds"), second.trials.drop(columns="seconds")
    )
    assert first.params == second.params


def test_xgboost_can_be_tuned_and_bad_budgets_are_refused(series: pd.DataFrame) -> None:
    spec = ml.ForecastSpec(num_threads=1, horizon=8, n_windows=1)
    result = ml.tune(
        series, spec, ml.TuningBudget(n_trials=2, max_series=5, n_windows=1), "xgboost"
    )
    assert result.n_complete == 2
    assert {"max_depth", "min_child_weight"} <= set(result.params)
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        ml.TuningBudget(n_trials=0)
    with pytest.raises(ValueError, match="no search space"):
        ml.tune(series, spec, ml.TuningBudget(n_trials=1), "prophet")
