"""Split-conformal prediction intervals calibrated on backtest residuals.

Scores. For every backtest prediction of a model the conformity score is the scaled absolute
residual ``|y - yhat| / scale``, where ``scale`` is the series' in-sample naive MAE on the data
up to that cutoff (the MASE denominator, :func:`~forecast_pipeline.ml.metrics.robust_scale`).
Dividing by it puts products of very different size on one scale, so the scores of all products
can be pooled, and each product's interval width is proportional to its own typical naive error
(a 10 units/week product does not inherit the errors of a 10,000 units/week one). Series whose
scale is zero or undefined (one observation, constant history) fall back to their mean ``|y|``,
then to 1.

Quantiles. Scores are grouped by horizon step (1 = first period after the cutoff), pooling all
series and all backtest windows, and the conformal quantile of level ``a`` is the
``ceil((n + 1) * a)``-th smallest of the ``n`` scores of that step (the largest one if there are
too few scores). The quantiles are then made non-decreasing along the horizon (uncertainty does
not shrink further ahead) and across levels (95 % at least as wide as 80 %).

Intervals. ``yhat -/+ q_step * scale``, with the scale of the series at the forecast origin,
bounds clipped at 0. The intervals are symmetric around the point forecast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast_pipeline.ml.backtest import BacktestResult
from forecast_pipeline.ml.metrics import cutoff_scales

__all__ = [
    "INTERVAL_LEVELS",
    "add_intervals",
    "conformal_quantiles",
    "conformity_scores",
    "interval_coverage",
]

INTERVAL_LEVELS: tuple[int, ...] = (80, 95)


def conformity_scores(
    result: BacktestResult, model: str, scales: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Scaled absolute backtest residuals of ``model``.

    Args:
        result: the backtest.
        model: a model column of ``result.predictions``.
        scales: ``unique_id``, ``cutoff``, ``scale`` (see
            :func:`~forecast_pipeline.ml.metrics.cutoff_scales` with ``robust=True``); defaults
            to ``result.scales``.

    Returns:
        ``unique_id``, ``cutoff``, ``ds``, ``step`` (1-based horizon step), ``y``, ``yhat``,
        ``scale``, ``score``.
    """
    if model not in result.models:
        raise ValueError(f"model {model!r} not in the backtest; available: {result.models}")
    scales = result.scales if scales is None else scales
    preds = result.predictions[["unique_id", "cutoff", "ds", "y", model]].rename(
        columns={model: "yhat"}
    )
    preds = preds.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)
    # Series are gap free and have history at the cutoff: the n-th row after it is step n.
    preds["step"] = preds.groupby(["unique_id", "cutoff"]).cumcount() + 1
    scales = scales[["unique_id", "cutoff", "scale"]].astype({"cutoff": "datetime64[ns]"})
    preds = preds.astype({"cutoff": "datetime64[ns]"}).merge(
        scales, on=["unique_id", "cutoff"], how="left"
    )
    if preds["scale"].isna().any():
        missing = preds.loc[preds["scale"].isna(), ["unique_id", "cutoff"]].drop_duplicates()
        raise ValueError(
            f"no residual scale for {len(missing)} (unique_id, cutoff) pairs of the backtest, "
            "e.g. a BacktestResult rebuilt without its scales; pass the series it was run on"
        )
    preds["score"] = (preds["y"] - preds["yhat"]).abs() / preds["scale"]
    return preds


def conformal_quantiles(
    scores: pd.DataFrame, horizon: int, levels: Sequence[int] = INTERVAL_LEVELS
) -> pd.DataFrame:
    """Conformal score quantile per horizon step and level.

    Args:
        scores: at least ``step`` and ``score`` (see :func:`conformity_scores`).
        horizon: number of steps wanted; steps without scores reuse the nearest earlier step
            (or the first available one).
        levels: interval levels in percent.

    Returns:
        Frame indexed by ``step`` (1..horizon) with one column ``q_<level>`` per level.
    """
    if scores.empty:
        raise ValueError("no backtest residuals to calibrate the intervals on")
    by_step = scores.groupby("step")["score"]
    out = {f"q_{level}": by_step.agg(_conformal_quantile, level=level) for level in sorted(levels)}
    quant = pd.DataFrame(out).reindex(range(1, horizon + 1)).ffill().bfill()
    quant = quant.cummax(axis=0).cummax(axis=1)
    quant.index.name = "step"
    return quant


def _conformal_quantile(scores: pd.Series, level: int) -> float:
    values = np.sort(scores.to_numpy(dtype=float))
    n = values.size
    k = min(math.ceil((n + 1) * level / 100.0), n)
    return float(values[k - 1])


def add_intervals(
    frame: pd.DataFrame, quantiles: pd.DataFrame, levels: Sequence[int] = INTERVAL_LEVELS
) -> pd.DataFrame:
    """Add ``lo_<level>``/``hi_<level>`` columns to ``frame`` (needs ``step``, ``yhat``,
    ``scale``): ``yhat -/+ q * scale``, clipped at 0."""
    out = frame.copy()
    for level in levels:
        q = out["step"].map(quantiles[f"q_{level}"]).to_numpy(dtype=float)
        width = q * out["scale"].to_numpy(dtype=float)
        out[f"lo_{level}"] = np.clip(out["yhat"].to_numpy() - width, 0.0, None)
        out[f"hi_{level}"] = np.clip(out["yhat"].to_numpy() + width, 0.0, None)
    return out


def interval_coverage(
    backtest_result: BacktestResult,
    model: str,
    *,
    series: pd.DataFrame | None = None,
    season_length: int = 52,
) -> dict[str, float]:
    """Empirical coverage of the conformal intervals of ``model`` on the backtest.

    The intervals are calibrated exactly as in
    :func:`~forecast_pipeline.ml.forecast.fit_forecast`, but only on the residuals of the
    windows before the last one (latest cutoff), and evaluated on the last window: coverage is
    the share of its points with ``lo <= y <= hi``. The windows overlap in time when
    ``step_size < horizon``, so calibration and test residuals are not independent; read the
    figure as an indication, not a guarantee. Needs at least two backtest windows.

    Args:
        backtest_result: the backtest.
        model: a model of the backtest.
        series: only needed when ``backtest_result.scales`` is empty (a result rebuilt from
            its predictions and metrics): the series the backtest ran on, to recompute them.
        season_length: seasonal period used to recompute the scales from ``series``.

    Returns:
        ``{"coverage_80": ..., "coverage_95": ...}`` (fractions in [0, 1]).
    """
    scales = None
    if series is not None:
        scales = cutoff_scales(series, backtest_result.cutoffs, season_length, robust=True)
    scores = conformity_scores(backtest_result, model, scales)
    cutoffs = sorted(scores["cutoff"].unique())
    if len(cutoffs) < 2:
        raise ValueError("interval_coverage needs at least two backtest windows")
    calib = scores[scores["cutoff"] < cutoffs[-1]]
    test = scores[scores["cutoff"] == cutoffs[-1]]
    quantiles = conformal_quantiles(calib, horizon=int(scores["step"].max()))
    test = add_intervals(test, quantiles)
    y = test["y"].to_numpy()
    return {
        f"coverage_{level}": float(
            np.mean((test[f"lo_{level}"].to_numpy() <= y) & (y <= test[f"hi_{level}"].to_numpy()))
        )
        for level in INTERVAL_LEVELS
    }
