"""The trained forecaster: everything one weekly training hands to publishing and the registry.

A :class:`Forecaster` holds the forecast configuration, the tuned hyper-parameters, the global
models fitted on all weeks up to its training origin, and the ensemble learnt from the backtest
(weights, reconciliation variances, interval calibration). It forecasts from any later history
of the products: the global models forecast from that history without refitting, the per-series
models (baselines, AutoETS, Prophet) are re-estimated on it as their definition requires, and
the ensemble combines, reconciles and adds intervals exactly as it did on the backtest.

Its input can also be one flat *features frame* (:func:`features_frame`), the form the MLflow
model takes: one row per product and week with ``unique_id``, ``ds``, ``y``, ``category`` and
the optional exogenous columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from forecast_pipeline.ml.backtest import BacktestResult, backtest
from forecast_pipeline.ml.engine import EnsembleModel, ForecastResult, forecast
from forecast_pipeline.ml.exogenous import PRICE_FEATURES, Exogenous
from forecast_pipeline.ml.gbm import GBM_MODELS, GlobalModels, fit_global_models
from forecast_pipeline.ml.models import ModelInputs
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = [
    "FEATURE_COLUMNS",
    "Forecaster",
    "backtest_forecaster",
    "features_frame",
    "split_features",
    "train_forecaster",
]

FEATURE_COLUMNS = ("unique_id", "ds", "y", "category")
_SHARED_PREFIX = "ind_"


@dataclass
class Forecaster:
    """A trained weekly forecaster (see the module docstring).

    Attributes:
        spec: the forecast configuration of the training.
        ensemble: weights, reconciliation variances and interval calibration.
        params: tuned hyper-parameters per global model.
        global_models: the global models fitted on all training weeks (``None`` when the spec
            has none).
        training_start: first week of the training data.
        training_end: last week of the training data.
    """

    spec: ForecastSpec
    ensemble: EnsembleModel
    global_models: GlobalModels | None
    training_start: pd.Timestamp
    training_end: pd.Timestamp
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def members(self) -> list[str]:
        """The base models the ensemble combines (with a positive weight at some level)."""
        weights = self.ensemble.weights
        return sorted(weights.loc[weights["weight"] > 0, "model"].unique())

    def forecast(
        self,
        series: pd.DataFrame,
        categories: pd.DataFrame,
        exog: Exogenous | None = None,
        horizon: int | None = None,
    ) -> ForecastResult:
        """Forecast the weeks after ``series`` (which may end later than the training data).

        ``horizon`` shortens the forecast (at most the trained ``spec.horizon``).
        """
        spec = self.spec
        if horizon is not None:
            if not 1 <= horizon <= spec.horizon:
                raise ValueError(f"horizon must be between 1 and {spec.horizon}, got {horizon}")
            spec = replace(spec, horizon=horizon)
        if pd.Timestamp(series["ds"].max()) < self.training_end:
            raise ValueError(
                f"the history ends on {pd.Timestamp(series['ds'].max()).date()}, before the "
                f"training data ({self.training_end.date()}): forecasting from it would reuse "
                "models that have seen its future"
            )
        inputs = ModelInputs(categories=categories, exog=exog or Exogenous(), params=self.params)
        return forecast(series, spec, inputs, self.ensemble, self.global_models)

    def forecast_features(
        self, features: pd.DataFrame, horizon: int | None = None
    ) -> ForecastResult:
        """:meth:`forecast` from one features frame (see :func:`features_frame`)."""
        series, categories, exog = split_features(features)
        return self.forecast(series, categories, exog, horizon)


def train_forecaster(
    series: pd.DataFrame, spec: ForecastSpec, inputs: ModelInputs, ensemble: EnsembleModel
) -> Forecaster:
    """Fit the spec's global models on all of ``series`` and bundle them with the ensemble."""
    gbms = [m for m in spec.product_models if m in GBM_MODELS]
    fitted = (
        fit_global_models(
            series,
            spec,
            gbms,
            categories=inputs.categories,
            exog=inputs.exog,
            params=inputs.params,
        )
        if gbms
        else None
    )
    return Forecaster(
        spec=spec,
        ensemble=ensemble,
        global_models=fitted,
        training_start=pd.Timestamp(series["ds"].min()),
        training_end=pd.Timestamp(series["ds"].max()),
        params={name: dict(values) for name, values in inputs.params.items()},
    )


def features_frame(
    series: pd.DataFrame, categories: pd.DataFrame, exog: Exogenous | None = None
) -> pd.DataFrame:
    """One row per product and week: ``unique_id``, ``ds``, ``y``, ``category``, then the
    per-product exogenous columns (prices, promotions) and the shared ones (``ind_*``
    indicator changes) of that week."""
    frame = series.loc[:, ["unique_id", "ds", "y"]].merge(
        categories.drop_duplicates("unique_id")[["unique_id", "category"]],
        on="unique_id",
        how="left",
    )
    frame["category"] = frame["category"].fillna("unknown").astype(str)
    if exog is not None:
        frame = exog.training_frame(frame).merge(
            frame[["unique_id", "ds", "category"]], on=["unique_id", "ds"]
        )
        frame = frame[[*FEATURE_COLUMNS, *exog.columns]]
    frame["y"] = frame["y"].astype("float64")
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)


def split_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, Exogenous]:
    """The series, categories and exogenous features of a features frame.

    The shared indicator values of the forecast origin (the week after the last one) are not
    in the frame; the last week's values are carried forward to it.
    """
    missing = [c for c in FEATURE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the features frame lacks the columns {missing}")
    frame = frame.assign(ds=pd.to_datetime(frame["ds"]), unique_id=frame["unique_id"].astype(str))
    series = frame[["unique_id", "ds", "y"]].astype({"y": "float64"})
    categories = frame.drop_duplicates("unique_id")[["unique_id", "category"]].reset_index(
        drop=True
    )
    price_cols = [c for c in PRICE_FEATURES if c in frame.columns]
    shared_cols = sorted(c for c in frame.columns if c.startswith(_SHARED_PREFIX))
    per_series = frame[["unique_id", "ds", *price_cols]] if price_cols else None
    shared = None
    if shared_cols:
        shared = frame.groupby("ds", as_index=False)[shared_cols].first()
        last = shared.iloc[[-1]].assign(ds=shared["ds"].iloc[-1] + _offset_between(shared["ds"]))
        shared = pd.concat([shared, last], ignore_index=True)
    return series, categories, Exogenous(per_series=per_series, shared=shared)


def _setup(spec: ForecastSpec) -> dict[str, Any]:
    """The spec without its model lists: what every model's predictions depend on."""
    fields = asdict(spec)
    del fields["product_models"], fields["aggregate_models"]
    return fields


def _offset_between(dates: pd.Series) -> pd.Timedelta:
    if len(dates) < 2:
        return pd.Timedelta(weeks=1)
    return pd.Timestamp(dates.iloc[-1]) - pd.Timestamp(dates.iloc[-2])


def backtest_forecaster(
    forecaster: Forecaster,
    reference: BacktestResult,
    reference_spec: ForecastSpec,
    reference_params: dict[str, Any],
    series: pd.DataFrame,
    categories: pd.DataFrame,
    exog: Exogenous | None = None,
) -> BacktestResult:
    """The forecaster's recipe re-run on the cutoffs of ``reference`` (a newer backtest).

    Its base models are refitted at every cutoff of ``reference`` with its own configuration
    and hyper-parameters, so that :func:`~forecast_pipeline.ml.engine.evaluate` can score it
    exactly like the newer model: same windows, same information, ensemble weights fitted on
    the other windows. Base predictions of ``reference`` are reused for every model whose
    configuration did not change (same spec apart from the model lists, same
    hyper-parameters).
    """
    spec = forecaster.spec
    models = [*dict.fromkeys([*spec.product_models, *spec.aggregate_models])]
    same_setup = _setup(spec) == _setup(reference_spec)
    reusable = [
        m
        for m in models
        if same_setup
        and m in reference.models
        and forecaster.params.get(m) == reference_params.get(m)
        and (m in spec.product_models) == (m in reference_spec.product_models)
    ]
    keys = ["level", "unique_id", "ds", "cutoff", "step", "y"]
    predictions = reference.predictions[[*keys, *[m for m in reference.models if m in reusable]]]
    rerun = [m for m in models if m not in reusable]
    if rerun:
        rerun_spec = replace(
            spec,
            product_models=tuple(m for m in spec.product_models if m in rerun),
            aggregate_models=tuple(m for m in spec.aggregate_models if m in rerun),
        )
        inputs = ModelInputs(
            categories=categories, exog=exog or Exogenous(), params=forecaster.params
        )
        fresh = backtest(series, rerun_spec, inputs, cutoffs=reference.cutoffs)
        predictions = predictions.merge(
            fresh.predictions[[*keys[:-1], *rerun]], on=keys[:-1], how="left"
        )
    return BacktestResult(predictions=predictions, history=reference.history)
