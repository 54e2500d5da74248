"""From base forecasts to the published ensemble: weights, cold start, reconciliation, intervals.

The ensemble of one (cutoff or origin) is built in four steps from the base forecasts of every
level (:func:`~forecast_pipeline.ml.models.base_forecasts`):

1. **Weights**: each level's convex combination of its models, chosen on the backtest
   (:mod:`forecast_pipeline.ml.ensemble`).
2. **Cold start**: a product with fewer than ``spec.cold_start_steps`` periods of history gets
   a category-based forecast instead: its share of the category's sales over the periods it
   has been on sale, times the category's ensemble forecast. Its rows are flagged
   ``cold_start``.
3. **Reconciliation** (:mod:`forecast_pipeline.ml.reconciliation`, ``wls_var``): products add
   up to categories and categories to the total; the variance of each node is the backtest
   MSE of its step-2 forecast, so the more reliable levels move least.
4. **Intervals** (:mod:`forecast_pipeline.ml.intervals`): conformal, calibrated on the backtest
   errors of the reconciled ensemble, per period and for the window totals.

:func:`evaluate` scores the ensemble honestly on the backtest: the forecast of each window uses
weights, variances and calibration fitted on the *other* windows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast_pipeline.ml.backtest import BacktestResult, check_series
from forecast_pipeline.ml.ensemble import ENSEMBLE, apply_weights, fit_level_weights
from forecast_pipeline.ml.gbm import GlobalModels
from forecast_pipeline.ml.intervals import (
    Calibration,
    add_intervals,
    calibrate,
    interval_columns,
    level_scales,
    origin_scales,
    window_totals,
)
from forecast_pipeline.ml.metrics import (
    LEVELS,
    attach_categories,
    score_predictions,
    sort_by_level,
)
from forecast_pipeline.ml.models import ModelInputs, base_forecasts
from forecast_pipeline.ml.reconciliation import aggregate_levels, reconcile
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = [
    "FORECAST_COLUMNS",
    "WINDOW_COLUMNS",
    "EnsembleModel",
    "Evaluation",
    "ForecastResult",
    "combine",
    "evaluate",
    "fit_ensemble",
    "forecast",
]

FORECAST_COLUMNS = [
    "level",
    "unique_id",
    "ds",
    "step",
    "yhat",
    *interval_columns(),
    "cold_start",
]
WINDOW_COLUMNS = ["level", "unique_id", "window", "n_steps", "yhat", *interval_columns()]


@dataclass
class EnsembleModel:
    """Everything the ensemble learnt from a backtest.

    Attributes:
        weights: ``level``, ``model``, ``weight``.
        variances: ``level``, ``unique_id``, ``variance`` (reconciliation weights).
        calibration: conformal quantiles of the reconciled ensemble.
    """

    weights: pd.DataFrame
    variances: pd.DataFrame
    calibration: Calibration


@dataclass
class Evaluation:
    """The backtest with the ensemble added (see :func:`evaluate`).

    Attributes:
        predictions: the backtest predictions plus ``ensemble``, its intervals and
            ``cold_start``.
        metrics: :data:`~forecast_pipeline.ml.metrics.METRIC_COLUMNS` for every base model and
            the ensemble at every level (coverage and width for the ensemble).
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame

    def leaderboard(self, level: str = "product") -> pd.DataFrame:
        """Overall metrics (all cutoffs pooled) of each model at ``level``, best WAPE first."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        overall = self.metrics[(self.metrics["level"] == level) & self.metrics["cutoff"].isna()]
        board = overall.drop(columns=["level", "cutoff"])
        return board.sort_values(["wape", "model"], na_position="last", ignore_index=True)


@dataclass
class ForecastResult:
    """The published forecast.

    Attributes:
        steps: :data:`FORECAST_COLUMNS`: one row per series of every level and future period.
        windows: :data:`WINDOW_COLUMNS`: totals over the ``spec.interval_windows`` with their
            own calibrated intervals.
        base: the base forecasts of every model (``level``, ``unique_id``, ``ds``, models).
    """

    steps: pd.DataFrame
    windows: pd.DataFrame
    base: pd.DataFrame

    def level(self, name: str) -> pd.DataFrame:
        """The per-period rows of one level."""
        return self.steps[self.steps["level"] == name].reset_index(drop=True)


def combine(
    base: pd.DataFrame,
    weights: pd.DataFrame,
    variances: pd.DataFrame | None,
    history: pd.DataFrame,
    categories: pd.DataFrame,
    spec: ForecastSpec,
) -> pd.DataFrame:
    """Steps 1-3 of the module docstring on base forecasts of one or several cutoffs.

    Args:
        base: ``level``, ``unique_id``, ``ds``, ``cutoff`` (the last training date) and the
            model columns.
        weights: ensemble weights per level.
        variances: reconciliation variances; ``None`` skips reconciliation (used to measure
            the variances themselves).
        history: ``level``, ``unique_id``, ``ds``, ``y`` (cold-start shares, read up to each
            cutoff only).
        categories: ``unique_id`` -> ``category``.
        spec: forecast configuration (``cold_start_steps``).

    Returns:
        ``base`` with ``ensemble`` and ``cold_start`` columns.
    """
    out = base.copy()
    out[ENSEMBLE] = apply_weights(out, weights).to_numpy()
    out["cold_start"] = False
    out = _cold_start(out, history, categories, spec)
    if variances is None:
        return out
    keys = out[["level", "unique_id", "ds", "cutoff", ENSEMBLE]]
    if spec.reconciliation == "middle_out":
        rec = _middle_out(keys, categories, variances)
    else:
        rec = reconcile(
            keys,
            categories,
            method=spec.reconciliation,
            variances=variances,
            value_col=ENSEMBLE,
            non_negative=True,
        )
    out = out.drop(columns=ENSEMBLE).merge(
        rec, on=["level", "unique_id", "ds", "cutoff"], how="left", validate="one_to_one"
    )
    return out


def _middle_out(
    frame: pd.DataFrame, categories: pd.DataFrame, variances: pd.DataFrame
) -> pd.DataFrame:
    """Keep the shape of the category forecasts: the total and the categories are reconciled
    by variance-weighted least squares (each category moves by its share of the variance times
    the gap ``total - sum(categories)``), and products are scaled so that they add up to their
    reconciled category (split equally when their forecasts sum to 0)."""
    var = variances.set_index(["level", "unique_id"])["variance"]
    cats = frame[frame["level"] == "category"].copy()
    total = frame[frame["level"] == "total"].set_index(["cutoff", "ds"])[ENSEMBLE]
    v_cat = cats.set_index(["level", "unique_id"]).index.map(var).to_numpy(dtype=float)
    v_cat = np.where(np.isfinite(v_cat) & (v_cat > 0), v_cat, np.nanmedian(v_cat))
    v_total = float(var.get(("total", "total"), np.nan))
    cats["v"] = np.nan_to_num(v_cat, nan=1.0)
    slices = cats.groupby(["cutoff", "ds"])
    cat_sum = slices[ENSEMBLE].transform("sum")
    v_sum = slices["v"].transform("sum")
    if not np.isfinite(v_total) or v_total <= 0:
        v_total = float(np.nanmedian(v_sum))
    gap = cats.set_index(["cutoff", "ds"]).index.map(total).to_numpy(dtype=float) - cat_sum
    cats[ENSEMBLE] = np.clip(cats[ENSEMBLE] + cats["v"] / (v_sum + v_total) * gap, 0.0, None)
    products = attach_categories(frame[frame["level"] == "product"], categories)
    by_cat = products.groupby(["cutoff", "ds", "category"])[ENSEMBLE]
    prod_sum = by_cat.transform("sum")
    count = by_cat.transform("size")
    target = products.merge(
        cats[["cutoff", "ds", "unique_id", ENSEMBLE]].rename(
            columns={"unique_id": "category", ENSEMBLE: "target"}
        ),
        on=["cutoff", "ds", "category"],
        how="left",
    )["target"].to_numpy()
    value = products[ENSEMBLE].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(prod_sum > 0, value * target / prod_sum, target / count)
    products[ENSEMBLE] = scaled
    cat_total = cats.groupby(["cutoff", "ds"], as_index=False)[ENSEMBLE].sum()
    totals = (
        frame[frame["level"] == "total"]
        .drop(columns=ENSEMBLE)
        .merge(cat_total, on=["cutoff", "ds"], how="left")
    )
    return pd.concat(
        [products.drop(columns="category"), cats.drop(columns="v"), totals], ignore_index=True
    )


def _cold_start(
    frame: pd.DataFrame, history: pd.DataFrame, categories: pd.DataFrame, spec: ForecastSpec
) -> pd.DataFrame:
    products = history[history["level"] == "product"]
    category_hist = history.loc[history["level"] == "category", ["unique_id", "ds", "y"]]
    category_hist = category_hist.rename(columns={"unique_id": "category", "y": "category_y"})
    # Product series are gap free from their first sale: the history a product has at a cutoff
    # is the number of periods from its first date to the cutoff, no need to count rows.
    first = products.groupby("unique_id")["ds"].min()
    anchor = pd.Timestamp("2000-01-03")  # a Monday, so that W-MON steps exactly one week
    period = (anchor + spec.offset) - anchor
    for cutoff in frame["cutoff"].unique():
        started = first[first <= cutoff]
        length = (pd.Timestamp(cutoff) - started) // period + 1
        young = length[length < spec.cold_start_steps].index
        if young.empty:
            continue
        rows = (frame["cutoff"] == cutoff) & (frame["level"] == "product")
        rows &= frame["unique_id"].isin(young)
        if not rows.any():
            continue
        known = products[products["unique_id"].isin(young) & (products["ds"] <= cutoff)]
        recent = attach_categories(known, categories)
        recent = recent.merge(category_hist, on=["category", "ds"], how="left")
        sums = recent.groupby(["unique_id", "category"], as_index=False)[["y", "category_y"]].sum()
        n_products = (
            attach_categories(pd.DataFrame({"unique_id": length.index}), categories)
            .groupby("category")["unique_id"]
            .size()
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(
                sums["category_y"] > 0,
                sums["y"] / sums["category_y"],
                1.0 / sums["category"].map(n_products).to_numpy(dtype=float),
            )
        sums["share"] = share
        cat_fcst = frame.loc[
            (frame["cutoff"] == cutoff) & (frame["level"] == "category"),
            ["unique_id", "ds", ENSEMBLE],
        ].rename(columns={"unique_id": "category", ENSEMBLE: "category_fcst"})
        target = frame.loc[rows, ["unique_id", "ds"]].reset_index()
        target = target.merge(sums[["unique_id", "category", "share"]], on="unique_id")
        target = target.merge(cat_fcst, on=["category", "ds"], how="left")
        frame.loc[target["index"], ENSEMBLE] = (
            target["share"] * target["category_fcst"]
        ).to_numpy()
        frame.loc[target["index"], "cold_start"] = True
    return frame


def fit_ensemble(
    result: BacktestResult, spec: ForecastSpec, categories: pd.DataFrame
) -> EnsembleModel:
    """Weights, reconciliation variances and interval calibration from a backtest."""
    preds = result.predictions
    weights = fit_level_weights(preds, result.models, seed=spec.seed)
    raw = combine(preds, weights, None, result.history, categories, spec)
    variances = (
        raw.assign(sq=(raw["y"] - raw[ENSEMBLE]) ** 2)
        .groupby(["level", "unique_id"], as_index=False)["sq"]
        .mean()
        .rename(columns={"sq": "variance"})
    )
    reconciled = combine(preds, weights, variances, result.history, categories, spec)
    calibration = calibrate(
        reconciled,
        ENSEMBLE,
        result.history,
        horizon=spec.horizon,
        season_length=spec.season_length,
        windows=spec.interval_windows,
    )
    return EnsembleModel(weights=weights, variances=variances, calibration=calibration)


def ensemble_predictions(
    result: BacktestResult, model: EnsembleModel, spec: ForecastSpec, categories: pd.DataFrame
) -> pd.DataFrame:
    """The backtest predictions of ``result`` plus the ensemble of ``model`` with its per-period
    intervals (``lo_<p>``/``hi_<p>``) and ``cold_start``."""
    combined = combine(
        result.predictions, model.weights, model.variances, result.history, categories, spec
    )
    scales = level_scales(result.history, result.cutoffs, spec.season_length)
    combined = combined.merge(scales, on=["level", "unique_id", "cutoff"], how="left")
    out = add_intervals(combined, model.calibration.steps, on=["level", "step"], value_col=ENSEMBLE)
    return out.drop(columns="scale")


def evaluate(result: BacktestResult, spec: ForecastSpec, categories: pd.DataFrame) -> Evaluation:
    """Score every base model and the ensemble on the backtest windows.

    The ensemble's forecast of each window comes from :func:`fit_ensemble` on the other
    windows (leave one window out), so its figures are not fitted on the data they are
    measured on. With a single window that is impossible and the window is used for both
    (the metrics are then optimistic).
    """
    cutoffs = result.cutoffs
    frames = []
    for cutoff in cutoffs:
        others = [c for c in cutoffs if c != cutoff] or [cutoff]
        model = fit_ensemble(result.windows(others), spec, categories)
        frames.append(ensemble_predictions(result.windows([cutoff]), model, spec, categories))
    predictions = pd.concat(frames, ignore_index=True)
    metrics = score_predictions(
        predictions,
        result.history,
        [*result.models, ENSEMBLE],
        spec.season_length,
        interval_model=ENSEMBLE,
    )
    return Evaluation(predictions=predictions, metrics=metrics)


def forecast(
    series: pd.DataFrame,
    spec: ForecastSpec,
    inputs: ModelInputs,
    model: EnsembleModel,
    global_models: GlobalModels | None = None,
) -> ForecastResult:
    """Forecast ``spec.horizon`` steps after ``series`` with the ensemble of ``model`` (steps
    1-4 of the module docstring).

    Args:
        series: gap-free product series ``unique_id``, ``ds``, ``y``.
        spec: forecast configuration (the one the backtest ran with).
        inputs: categories, exogenous features and tuned parameters.
        model: the ensemble fitted on the backtest (:func:`fit_ensemble`).
        global_models: the global models fitted at training time; without them every model,
            global ones included, is fitted on ``series`` here. The per-series models
            (baselines, AutoETS, Prophet) are always fitted on ``series``.
    """
    series = check_series(series)
    history = aggregate_levels(series, inputs.categories, ["y"])
    last = pd.Timestamp(series["ds"].max())
    base = base_forecasts(series, spec, inputs, global_models).assign(cutoff=last)
    base[_models(base)] = base[_models(base)].clip(lower=0.0)
    base = base.sort_values(["level", "unique_id", "ds"], kind="stable", ignore_index=True)
    base["step"] = base.groupby(["level", "unique_id"]).cumcount() + 1
    combined = combine(base, model.weights, model.variances, history, inputs.categories, spec)
    combined = combined.rename(columns={ENSEMBLE: "yhat"})
    combined = combined.merge(
        origin_scales(history, spec.season_length), on=["level", "unique_id"], how="left"
    )
    steps = add_intervals(combined, model.calibration.steps, on=["level", "step"])
    totals = window_totals(steps, spec.interval_windows, ["yhat"])
    totals = totals.merge(
        origin_scales(history, spec.season_length), on=["level", "unique_id"], how="left"
    )
    windows = add_intervals(totals, model.calibration.windows, on=["level", "window"])
    steps = sort_by_level(steps, ["level", "unique_id", "ds"])
    windows = sort_by_level(windows, ["level", "unique_id", "n_steps"])
    base = base.drop(columns=["cutoff", "step"])
    return ForecastResult(steps=steps[FORECAST_COLUMNS], windows=windows[WINDOW_COLUMNS], base=base)


def _models(frame: pd.DataFrame) -> list[str]:
    return [
        c for c in frame.columns if c not in ("level", "unique_id", "ds", "cutoff", "step", "y")
    ]
