"""Hyper-parameter tuning of the global models with Optuna.

Each trial draws parameters with a seeded TPE sampler, then runs the model on the backtest
windows (the same cutoffs as the backtest, oldest first) of a sample of the products: after
each window it reports the running product-level WAPE, and the median pruner stops trials that
are worse than the median of earlier trials at the same window. The budget is a number of
trials and a number of seconds, whichever ends first; the best parameters found (or the spec's
defaults, when no trial completes) are returned with the study's record.

Tuning on a seeded sample of at most ``max_series`` products keeps a trial's cost independent
of the catalogue size; the global models then train on every product with the parameters
found.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast_pipeline.ml.backtest import backtest_cutoffs, check_series
from forecast_pipeline.ml.exogenous import Exogenous
from forecast_pipeline.ml.gbm import GBM_MODELS, LIGHTGBM, XGBOOST, gbm_forecasts
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = ["TuningBudget", "TuningResult", "sample_series", "search_space", "tune"]


@dataclass(frozen=True)
class TuningBudget:
    """How much tuning to do.

    Attributes:
        n_trials: largest number of trials per model.
        timeout_seconds: wall-time budget per model.
        max_series: products sampled for the trials.
        n_windows: backtest windows per trial (the latest ones), also the pruning steps.
        seed: seed of the sampler and of the product sample.
    """

    n_trials: int = 20
    timeout_seconds: float = 600.0
    max_series: int = 1000
    n_windows: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_trials", "max_series", "n_windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"TuningBudget.{name} must be >= 1, got {getattr(self, name)}")
        if self.timeout_seconds <= 0:
            raise ValueError(f"TuningBudget.timeout_seconds must be > 0: {self.timeout_seconds}")


@dataclass
class TuningResult:
    """Outcome of :func:`tune` for one model.

    Attributes:
        model: the tuned model.
        params: the complete hyper-parameters to use (defaults updated with the best trial).
        best_wape: product-level backtest WAPE of the best trial (NaN if none completed).
        default_wape: the same figure for the default parameters (trial 0 is always them).
        trials: one row per trial: ``number``, ``state``, ``value``, ``seconds`` and the
            sampled parameters.
        seconds: wall time of the study.
    """

    model: str
    params: dict[str, Any]
    best_wape: float
    default_wape: float
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0

    @property
    def n_complete(self) -> int:
        return int((self.trials["state"] == "COMPLETE").sum()) if not self.trials.empty else 0

    @property
    def n_pruned(self) -> int:
        return int((self.trials["state"] == "PRUNED").sum()) if not self.trials.empty else 0


def search_space(trial: Any, model: str) -> dict[str, Any]:
    """Parameters of one trial for ``model`` (LightGBM or XGBoost)."""
    if model == LIGHTGBM:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 300, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }
    if model == XGBOOST:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 300, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 3, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }
    raise ValueError(f"no search space for {model!r}; expected one of {list(GBM_MODELS)}")


def sample_series(series: pd.DataFrame, max_series: int, seed: int) -> pd.DataFrame:
    """At most ``max_series`` whole series of ``series``, drawn with ``seed``."""
    ids = np.sort(series["unique_id"].unique())
    if ids.size <= max_series:
        return series
    chosen = np.random.default_rng(seed).choice(ids, size=max_series, replace=False)
    return series[series["unique_id"].isin(chosen)]


def tune(
    series: pd.DataFrame,
    spec: ForecastSpec,
    budget: TuningBudget,
    model: str = LIGHTGBM,
    *,
    categories: pd.DataFrame | None = None,
    exog: Exogenous | None = None,
) -> TuningResult:
    """Tune ``model`` on the backtest windows of ``spec`` (see the module docstring).

    Args:
        series: gap-free product series ``unique_id``, ``ds``, ``y``.
        spec: forecast configuration (horizon, step size, features).
        budget: trials, seconds, sample size and seed.
        model: ``"lightgbm"`` or ``"xgboost"``.
        categories: ``unique_id`` -> ``category`` (static feature).
        exog: exogenous features.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    defaults = dict(spec.lgbm_params if model == LIGHTGBM else spec.xgb_params)
    sample = sample_series(check_series(series), budget.max_series, budget.seed)
    if exog is not None and exog.per_series is not None:
        # only the sampled products' rows: each trial joins them to its training frame
        ids = sample["unique_id"].unique()
        per_series = exog.per_series[exog.per_series["unique_id"].isin(ids)]
        exog = Exogenous(per_series=per_series, shared=exog.shared)
    cutoffs = backtest_cutoffs(sample, spec)[-budget.n_windows :]
    windows = [
        (
            sample[sample["ds"] <= cutoff],
            sample[(sample["ds"] > cutoff) & (sample["ds"] <= cutoff + spec.offset * spec.horizon)],
        )
        for cutoff in cutoffs
    ]

    def objective(trial: Any) -> float:
        params = {**defaults, **search_space(trial, model)}
        started = time.perf_counter()
        abs_err = abs_y = 0.0
        for k, (train, actuals) in enumerate(windows):
            fcst = gbm_forecasts(
                train, spec, [model], categories=categories, exog=exog, params={model: params}
            )
            merged = actuals.merge(fcst, on=["unique_id", "ds"], how="inner")
            abs_err += float((merged["y"] - merged[model].clip(lower=0)).abs().sum())
            abs_y += float(merged["y"].abs().sum())
            wape = abs_err / abs_y if abs_y > 0 else math.nan
            trial.report(wape, step=k)
            if trial.should_prune():
                trial.set_user_attr("seconds", time.perf_counter() - started)
                raise optuna.TrialPruned()
        trial.set_user_attr("seconds", time.perf_counter() - started)
        return wape

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=budget.seed, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )
    # Trial 0 evaluates the defaults, so tuning can only keep or improve on them.
    study.enqueue_trial(_default_point(defaults, model))
    started = time.perf_counter()
    study.optimize(objective, n_trials=budget.n_trials, timeout=budget.timeout_seconds)
    seconds = time.perf_counter() - started
    trials = _trials_frame(study)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    first = study.trials[0] if study.trials else None
    default_wape = (
        float(first.value)
        if first is not None and first.state == optuna.trial.TrialState.COMPLETE
        else math.nan
    )
    if not complete:
        return TuningResult(model, defaults, math.nan, default_wape, trials, seconds)
    best = study.best_trial
    return TuningResult(
        model=model,
        params={**defaults, **best.params},
        best_wape=float(best.value),
        default_wape=default_wape,
        trials=trials,
        seconds=seconds,
    )


# Values of the searched parameters that the default parameter sets leave to the library
# (clamped into the search ranges: LightGBM's reg_lambda is 0, the range starts at 1e-3).
_LIBRARY_DEFAULTS: dict[str, dict[str, Any]] = {
    LIGHTGBM: {"reg_lambda": 1e-3, "num_leaves": 31, "min_child_samples": 20},
    XGBOOST: {"reg_lambda": 1.0, "max_depth": 6, "min_child_weight": 1.0},
}


def _default_point(defaults: Mapping[str, Any], model: str) -> dict[str, Any]:
    class _Names:
        def __init__(self) -> None:
            self.names: list[str] = []

        def _record(self, name: str, *args: Any, **kwargs: Any) -> float:
            self.names.append(name)
            return 0.0

        suggest_int = suggest_float = _record

    recorder = _Names()
    search_space(recorder, model)
    point = {**_LIBRARY_DEFAULTS[model], **defaults}
    return {name: point[name] for name in recorder.names}


def _trials_frame(study: Any) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value if t.value is not None else math.nan,
                "seconds": t.user_attrs.get("seconds", math.nan),
                **t.params,
            }
        )
    return pd.DataFrame(rows)
