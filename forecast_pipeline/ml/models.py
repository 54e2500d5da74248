"""The base models of every level of the hierarchy, behind one entry point.

* Product level: the statistical baselines of :mod:`forecast_pipeline.ml.baselines` fitted per
  series and the global models of :mod:`forecast_pipeline.ml.gbm` fitted across all series,
  as listed in ``spec.product_models``.
* Category and total levels: the models of ``spec.aggregate_models`` (baselines and Prophet,
  :mod:`forecast_pipeline.ml.prophet_model`) fitted on the aggregated series; every product
  model not in that list also contributes its bottom-up sum (e.g. ``lightgbm`` at the category
  level is the sum of the LightGBM forecasts of the category's products).

:func:`base_forecasts` is the single place where models see data: the backtest calls it with
the data up to each cutoff, the final forecast with everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecast_pipeline.ml.baselines import BASELINE_MODELS, baseline_forecasts
from forecast_pipeline.ml.exogenous import Exogenous
from forecast_pipeline.ml.gbm import (
    GBM_MODELS,
    LIGHTGBM,
    XGBOOST,
    GlobalModels,
    gbm_forecasts,
    predict_global_models,
)
from forecast_pipeline.ml.metrics import sort_by_level
from forecast_pipeline.ml.prophet_model import PROPHET
from forecast_pipeline.ml.reconciliation import aggregate_levels
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = [
    "AGGREGATE_MODELS",
    "MODELS",
    "PRODUCT_MODELS",
    "ModelInputs",
    "base_forecasts",
    "check_models",
]

PRODUCT_MODELS: tuple[str, ...] = (*BASELINE_MODELS, *GBM_MODELS)
AGGREGATE_MODELS: tuple[str, ...] = (*BASELINE_MODELS, PROPHET)
MODELS: tuple[str, ...] = (*BASELINE_MODELS, LIGHTGBM, XGBOOST, PROPHET)
_PROPHET_REGRESSORS = ("holiday_days", "in_period_")


@dataclass(frozen=True)
class ModelInputs:
    """What the models know besides the product series.

    Attributes:
        categories: ``unique_id`` -> ``category`` of the products.
        exog: exogenous features of the global models (prices, promotions, indicators).
        params: tuned hyper-parameters per global model name (replacing the spec's).
    """

    categories: pd.DataFrame
    exog: Exogenous = field(default_factory=Exogenous)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def check_models(spec: ForecastSpec) -> None:
    """Raise ``ValueError`` when the spec names a model that does not exist at its level."""
    bad = [m for m in spec.product_models if m not in PRODUCT_MODELS]
    if bad:
        raise ValueError(f"unknown product models {bad}; expected among {list(PRODUCT_MODELS)}")
    bad = [m for m in spec.aggregate_models if m not in AGGREGATE_MODELS]
    if bad:
        raise ValueError(f"unknown aggregate models {bad}; expected among {list(AGGREGATE_MODELS)}")


def base_forecasts(
    train: pd.DataFrame,
    spec: ForecastSpec,
    inputs: ModelInputs,
    global_models: GlobalModels | None = None,
) -> pd.DataFrame:
    """Forecast ``spec.horizon`` steps after ``train`` with every model, at every level.

    Args:
        train: product series ``unique_id``, ``ds``, ``y`` (gap free), all ending on the same
            date.
        spec: forecast configuration (models, horizon, features).
        inputs: categories, exogenous features and tuned parameters.
        global_models: global models fitted earlier (on data up to ``train``'s end or before);
            when given they forecast from ``train`` instead of being fitted on it.

    Returns:
        ``level``, ``unique_id``, ``ds`` and one column of raw (unclipped) forecasts per model
        (NaN where a model does not forecast a level), sorted by level, ``unique_id``, ``ds``.
    """
    check_models(spec)
    train = train.loc[:, ["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    product = _product_forecasts(train, spec, inputs, global_models)
    product_models = [c for c in product.columns if c not in ("unique_id", "ds")]
    levels = aggregate_levels(product, inputs.categories, product_models)
    direct_models = list(spec.aggregate_models)
    if direct_models:
        history = aggregate_levels(train, inputs.categories, ["y"])
        direct = _aggregate_forecasts(history[history["level"] != "product"], spec, direct_models)
        levels = levels.merge(
            direct, on=["level", "unique_id", "ds"], how="left", suffixes=("_bu", "")
        )
        for model in direct_models:
            bottom_up = f"{model}_bu"
            if bottom_up in levels:
                is_product = levels["level"] == "product"
                levels[model] = levels[model].where(~is_product, levels[bottom_up])
                levels = levels.drop(columns=bottom_up)
    return sort_by_level(levels, ["level", "unique_id", "ds"])


def _product_forecasts(
    train: pd.DataFrame,
    spec: ForecastSpec,
    inputs: ModelInputs,
    global_models: GlobalModels | None,
) -> pd.DataFrame:
    baselines = [m for m in spec.product_models if m in BASELINE_MODELS]
    gbms = [m for m in spec.product_models if m in GBM_MODELS]
    frames = []
    if baselines:
        frames.append(baseline_forecasts(train, spec, baselines))
    if gbms and global_models is not None:
        if set(gbms) != set(global_models.models):
            raise ValueError(
                f"the spec lists global models {gbms}, the fitted ones are "
                f"{list(global_models.models)}"
            )
        frames.append(
            predict_global_models(
                global_models, train, spec, categories=inputs.categories, exog=inputs.exog
            )
        )
    elif gbms:
        frames.append(
            gbm_forecasts(
                train,
                spec,
                gbms,
                categories=inputs.categories,
                exog=inputs.exog,
                params=inputs.params,
            )
        )
    out = frames[0]
    for frame in frames[1:]:
        out = out.merge(frame, on=["unique_id", "ds"], how="outer")
    return out


def _aggregate_forecasts(
    history: pd.DataFrame, spec: ForecastSpec, models: list[str]
) -> pd.DataFrame:
    """Direct forecasts of the category and total series (ids prefixed by level while fitting,
    so that a category named like the total cannot collide)."""
    train = history.assign(unique_id=history["level"] + "/" + history["unique_id"].astype(str))
    train = train[["unique_id", "ds", "y"]]
    frames = []
    baselines = [m for m in models if m in BASELINE_MODELS]
    if baselines:
        frames.append(baseline_forecasts(train, spec, baselines))
    if PROPHET in models:
        from forecast_pipeline.ml.prophet_model import prophet_forecasts

        frames.append(
            prophet_forecasts(
                train, spec, regressors=_prophet_regressors(train, spec), country=spec.country
            )
        )
    out = frames[0]
    for frame in frames[1:]:
        out = out.merge(frame, on=["unique_id", "ds"], how="outer")
    parts = out["unique_id"].str.split("/", n=1, expand=True)
    return out.assign(level=parts[0], unique_id=parts[1])[["level", "unique_id", "ds", *models]]


def _prophet_regressors(train: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    from forecast_pipeline.ml.calendar import calendar_frame

    first = pd.Timestamp(train["ds"].min())
    last = pd.Timestamp(train["ds"].max())
    dates = pd.date_range(first, last + spec.offset * spec.horizon, freq=spec.freq)
    frame = calendar_frame(dates, spec.freq, spec.country)
    keep = [c for c in frame.columns if c == "ds" or c.startswith(_PROPHET_REGRESSORS)]
    return frame[keep]
