"""Global gradient-boosted models (LightGBM, XGBoost) across all product series, via mlforecast.

One model of each kind learns from every product at once. Features (computed by mlforecast from
the training data only, then recursively for each future step):

* lags ``spec.lags`` of the target, including the seasonal lag;
* rolling means of the lag-1 target over ``spec.rolling_windows`` and its rolling standard
  deviation over the longest of them; the mean of the three values around last year's period
  (``RollingMean(3)`` of lag ``season_length - 1``);
* calendar attributes ``spec.date_features`` and the holiday and retail-event features of
  :mod:`forecast_pipeline.ml.calendar` selected by ``spec.calendar_features`` (known for
  future dates);
* the product's category as a static code;
* the exogenous features of :mod:`forecast_pipeline.ml.exogenous` (prices, promotions,
  indicator changes) when given, with future values known at the origin.

Each series is standardised with its own mean and standard deviation (``LocalStandardScaler``,
fitted on the training data only) so that products of very different size share one model.
Catalogues larger than ``spec.max_train_series`` train on a seeded sample of products; every
product is then forecast from its own history (mlforecast's ``predict(new_df=...)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast_pipeline.ml.exogenous import Exogenous, future_exogenous
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = [
    "GBM_MODELS",
    "LIGHTGBM",
    "XGBOOST",
    "GlobalModels",
    "build_mlforecast",
    "fit_global_models",
    "gbm_forecasts",
    "gbm_regressor",
    "mlf_future_dates",
    "predict_global_models",
]

LIGHTGBM = "lightgbm"
XGBOOST = "xgboost"
GBM_MODELS: tuple[str, ...] = (LIGHTGBM, XGBOOST)
_CATEGORY_CODE = "category_code"


def gbm_regressor(name: str, spec: ForecastSpec, params: Mapping[str, Any] | None = None) -> Any:
    """The regressor ``name`` with ``params`` (default: the spec's), seeded and threaded by
    ``spec``."""
    if name == LIGHTGBM:
        import lightgbm as lgb

        merged = dict(spec.lgbm_params if params is None else params)
        merged.update(random_state=spec.seed, n_jobs=spec.num_threads, verbosity=-1)
        return lgb.LGBMRegressor(**merged)
    if name == XGBOOST:
        import xgboost as xgb

        merged = dict(spec.xgb_params if params is None else params)
        merged.update(random_state=spec.seed, n_jobs=spec.num_threads)
        return xgb.XGBRegressor(**merged)
    raise ValueError(f"unknown global model {name!r}; expected one of {list(GBM_MODELS)}")


def build_mlforecast(
    spec: ForecastSpec,
    models: Sequence[str] = GBM_MODELS,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Any:
    """An unfitted ``MLForecast`` with the features described in the module docstring.

    Args:
        spec: forecast configuration.
        models: names among :data:`GBM_MODELS`.
        params: optional hyper-parameters per model name (e.g. from tuning), replacing the
            spec's defaults for that model.
    """
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean, RollingStd
    from mlforecast.target_transforms import LocalStandardScaler

    from forecast_pipeline.ml.calendar import calendar_feature_functions

    calendar = [
        f
        for f in calendar_feature_functions(spec.freq, spec.country)
        if spec.calendar_features is None or f.__name__ in spec.calendar_features
    ]
    params = params or {}
    lag_transforms: dict[int, list[Any]] = {
        1: [RollingMean(window_size=w) for w in spec.rolling_windows]
    }
    if spec.rolling_windows:
        lag_transforms[1].append(RollingStd(window_size=max(spec.rolling_windows)))
    if spec.season_length > 1:
        lag_transforms.setdefault(spec.season_length - 1, []).append(RollingMean(window_size=3))
    return MLForecast(
        models={name: gbm_regressor(name, spec, params.get(name)) for name in models},
        freq=spec.freq,
        lags=list(spec.lags),
        lag_transforms=lag_transforms,
        date_features=[
            *spec.date_features,
            *calendar,
        ],
        target_transforms=[LocalStandardScaler()],
        num_threads=spec.num_threads,
    )


@dataclass
class GlobalModels:
    """Global models fitted once, able to forecast any later history of the same products.

    Attributes:
        mlf: the fitted ``MLForecast`` (its regressors and feature pipeline).
        models: names of the fitted models.
        category_codes: category -> static code seen while fitting (unknown categories get -1).
        exog_columns: exogenous feature columns the models were fitted with.
        training_end: last period of the training data.
    """

    mlf: Any
    models: tuple[str, ...]
    category_codes: dict[str, float]
    exog_columns: tuple[str, ...]
    training_end: pd.Timestamp

    def feature_importances(self) -> pd.DataFrame:
        """``model``, ``feature``, ``importance`` (share of the model's total importance)."""
        features = list(self.mlf.ts.features_order_)
        frames = []
        for name in self.models:
            raw = np.asarray(self.mlf.models_[name].feature_importances_, dtype="float64")
            share = raw / raw.sum() if raw.sum() > 0 else raw
            frames.append(pd.DataFrame({"model": name, "feature": features, "importance": share}))
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["model", "importance"], ascending=[True, False], ignore_index=True)


def fit_global_models(
    train: pd.DataFrame,
    spec: ForecastSpec,
    models: Sequence[str] = GBM_MODELS,
    *,
    categories: pd.DataFrame | None = None,
    exog: Exogenous | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> GlobalModels:
    """Fit the global ``models`` on ``train`` (on a seeded sample of
    ``spec.max_train_series`` products when there are more).

    Args:
        train: long frame ``unique_id``, ``ds``, ``y`` without gaps, all series ending on the
            same date.
        spec: forecast configuration (``spec.max_train_steps`` limits the rows learnt from).
        models: names among :data:`GBM_MODELS`.
        categories: ``unique_id`` -> ``category``, used as a static feature.
        exog: exogenous features (only periods before the end of ``train`` are read).
        params: hyper-parameters per model name, replacing the spec's.
    """
    if not models:
        raise ValueError("no global model requested")
    codes = _category_codes(categories) if categories is not None else None
    frame = _model_frame(train, spec, exog, categories, codes)
    mlf = build_mlforecast(spec, models, params)
    with _quiet_mlforecast():
        mlf.fit(_training_sample(frame, spec), static_features=_static(codes))
    return GlobalModels(
        mlf=mlf,
        models=tuple(models),
        category_codes=codes or {},
        exog_columns=tuple(exog.columns) if exog is not None else (),
        training_end=pd.Timestamp(train["ds"].max()),
    )


def predict_global_models(
    fitted: GlobalModels,
    train: pd.DataFrame,
    spec: ForecastSpec,
    *,
    categories: pd.DataFrame | None = None,
    exog: Exogenous | None = None,
) -> pd.DataFrame:
    """Forecast ``spec.horizon`` steps after ``train`` with models fitted earlier.

    Every series is forecast from its own history in ``train`` (which may end later than the
    training data), with the exogenous values known at its end.

    Returns:
        ``unique_id``, ``ds`` and one float column of raw (unclipped) forecasts per model,
        sorted by ``unique_id``, ``ds``.
    """
    columns = tuple(exog.columns) if exog is not None else ()
    if columns != fitted.exog_columns:
        raise ValueError(
            f"the models were fitted with exogenous features {list(fitted.exog_columns)}, "
            f"got {list(columns)}"
        )
    frame = _model_frame(train, spec, exog, categories, fitted.category_codes or None)
    origin = pd.Timestamp(train["ds"].max()) + spec.offset
    x_df = None
    if exog is not None and exog.columns:
        x_df = future_exogenous(exog.restricted(origin), mlf_future_dates(frame, spec), origin)
    with _quiet_mlforecast():
        fcst = fitted.mlf.predict(h=spec.horizon, X_df=x_df, new_df=frame)
    for name in fitted.models:
        fcst[name] = fcst[name].astype("float64")
        if not np.isfinite(fcst[name]).all():
            raise RuntimeError(f"{name} produced non-finite forecasts")
    return fcst[["unique_id", "ds", *fitted.models]].sort_values(
        ["unique_id", "ds"], ignore_index=True
    )


def gbm_forecasts(
    train: pd.DataFrame,
    spec: ForecastSpec,
    models: Sequence[str] = GBM_MODELS,
    *,
    categories: pd.DataFrame | None = None,
    exog: Exogenous | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Fit the global ``models`` on ``train`` and forecast ``spec.horizon`` steps.

    Only ``train`` (and the exogenous values known at its end) is seen: this is the single entry
    point used by the backtest (data up to a cutoff); see :func:`fit_global_models` for the
    arguments and :func:`predict_global_models` for the result.
    """
    fitted = fit_global_models(train, spec, models, categories=categories, exog=exog, params=params)
    return predict_global_models(fitted, train, spec, categories=categories, exog=exog)


def _model_frame(
    train: pd.DataFrame,
    spec: ForecastSpec,
    exog: Exogenous | None,
    categories: pd.DataFrame | None,
    codes: dict[str, float] | None,
) -> pd.DataFrame:
    """``train`` with the exogenous features and the category code the models read, trimmed
    to ``spec.max_train_steps`` (plus the periods the lags need)."""
    last = pd.Timestamp(train["ds"].max())
    frame = train.loc[:, ["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"])
    if exog is not None and exog.columns:
        frame = exog.restricted(last + spec.offset).training_frame(frame)
    if codes is not None:
        if categories is None:
            raise ValueError("the models use the category as a feature: categories are required")
        by_id = _category_of(categories).map(codes)
        frame[_CATEGORY_CODE] = frame["unique_id"].map(by_id).fillna(-1.0)
    if spec.max_train_steps is not None:
        keep = spec.max_train_steps + max(spec.lags) + max(spec.rolling_windows, default=0)
        frame = frame[frame["ds"] > last - spec.offset * keep]
    return frame


def _static(codes: dict[str, float] | None) -> list[str]:
    return [_CATEGORY_CODE] if codes is not None else []


@contextmanager
def _quiet_mlforecast() -> Iterator[None]:
    with warnings.catch_warnings():
        # Series shorter than the largest lag give no training rows and forecast with missing
        # lag features (the tree models handle NaN); mlforecast warns about both.
        warnings.filterwarnings("ignore", message="The following series were dropped")
        warnings.filterwarnings("ignore", message="Found null values")
        yield


def _training_sample(frame: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    """``frame`` restricted to a seeded sample of ``spec.max_train_series`` series (``frame``
    itself when it has no more series than that)."""
    ids = frame["unique_id"].unique()
    if spec.max_train_series is None or ids.size <= spec.max_train_series:
        return frame
    rng = np.random.default_rng(spec.seed)
    chosen = rng.choice(np.sort(ids), size=spec.max_train_series, replace=False)
    return frame[frame["unique_id"].isin(chosen)]


def mlf_future_dates(train: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    """``unique_id``, ``ds`` of the ``spec.horizon`` periods after each series' last date."""
    last = train.groupby("unique_id", sort=True)["ds"].max()
    ids = np.repeat(last.index.to_numpy(), spec.horizon)
    by_end = {
        end: pd.date_range(end + spec.offset, periods=spec.horizon, freq=spec.freq).to_numpy()
        for end in pd.DatetimeIndex(last.to_numpy()).unique()
    }
    ds = np.concatenate([by_end[pd.Timestamp(end)] for end in last.to_numpy()])
    return pd.DataFrame({"unique_id": ids, "ds": ds})


def _category_of(categories: pd.DataFrame) -> pd.Series:
    return categories.drop_duplicates("unique_id").set_index("unique_id")["category"].astype(str)


def _category_codes(categories: pd.DataFrame) -> dict[str, float]:
    names = sorted(_category_of(categories).unique())
    return {name: float(i) for i, name in enumerate(names)}
