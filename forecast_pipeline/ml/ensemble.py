"""Ensemble weights chosen from the backtest.

At each level (product, category, total) the ensemble is a convex combination of the models
forecasting that level: ``ensemble = sum_m w_m * yhat_m`` with ``w_m >= 0`` and
``sum_m w_m = 1``. The weights minimise the level's WAPE (``sum |y - ensemble| / sum |y|``,
every scored point of the backtest pooled). WAPE is piecewise linear in the weights, so the
minimum is searched with SLSQP from several starts (equal weights and each single model); the
best single model is itself a candidate, so on the data the weights are chosen on, the
ensemble is never worse than the best of its members. Levels with more than ``max_points``
scored points (the product level of a large catalogue) are fitted on a seeded random sample of
that many points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["ENSEMBLE", "apply_weights", "fit_level_weights", "fit_weights"]

ENSEMBLE = "ensemble"


def fit_weights(y: np.ndarray, predictions: np.ndarray, models: Sequence[str]) -> dict[str, float]:
    """Convex weights minimising ``sum |y - predictions @ w|``.

    Args:
        y: actuals, shape ``(n,)``.
        predictions: one column per model, shape ``(n, len(models))``; no NaN.
        models: model names of the columns.

    Returns:
        ``model -> weight`` (non-negative, summing to 1, rounded to 4 decimals then renormalised).
    """
    from scipy.optimize import minimize

    y = np.asarray(y, dtype=float)
    x = np.asarray(predictions, dtype=float)
    k = len(models)
    if x.shape != (y.size, k):
        raise ValueError(f"predictions must have shape ({y.size}, {k}), got {x.shape}")
    if k == 0:
        raise ValueError("no model to weight")
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise ValueError("ensemble weights need finite actuals and predictions")

    def loss(w: np.ndarray) -> float:
        return float(np.abs(y - x @ w).sum())

    starts = [np.full(k, 1.0 / k), *np.eye(k)]
    best = min(starts, key=loss)
    if k > 1:
        for start in starts:
            res = minimize(
                loss,
                start,
                method="SLSQP",
                bounds=[(0.0, 1.0)] * k,
                constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},),
                options={"maxiter": 200, "ftol": 1e-10},
            )
            w = np.clip(res.x, 0.0, None)
            if w.sum() > 0:
                w = w / w.sum()
                if loss(w) < loss(best):
                    best = w
    best = np.round(best, 4)
    best = best / best.sum()
    return {name: float(weight) for name, weight in zip(models, best, strict=True)}


def fit_level_weights(
    predictions: pd.DataFrame,
    models: Sequence[str],
    *,
    max_points: int = 400_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Weights per level from backtest predictions.

    Args:
        predictions: ``level``, ``y`` and one column per model (NaN where a model does not
            forecast that level).
        models: candidate model columns.
        max_points: largest number of points a level's weights are fitted on (sampled).
        seed: seed of that sample.

    Returns:
        ``level``, ``model``, ``weight``: at each level, the models with a prediction on every
        scored point of that level are weighted; the others are absent.
    """
    rows = []
    for level, part in predictions.groupby("level", sort=False):
        candidates = [m for m in models if m in part and part[m].notna().all()]
        if not candidates:
            raise ValueError(f"no model forecasts every point of level {level!r}")
        if len(part) > max_points:
            part = part.sample(n=max_points, random_state=seed)
        weights = fit_weights(
            part["y"].to_numpy(), part[candidates].to_numpy(dtype=float), candidates
        )
        rows += [{"level": level, "model": m, "weight": w} for m, w in weights.items()]
    return pd.DataFrame(rows, columns=["level", "model", "weight"])


def apply_weights(frame: pd.DataFrame, weights: pd.DataFrame) -> pd.Series:
    """The ensemble forecast of every row of ``frame`` (``level`` and model columns): the
    weighted sum of the weighted models of the row's level."""
    out = pd.Series(np.nan, index=frame.index, dtype="float64")
    for level, part in weights.groupby("level", sort=False):
        rows = frame["level"] == level
        if not rows.any():
            continue
        values = np.zeros(int(rows.sum()))
        for model, weight in zip(part["model"], part["weight"], strict=True):
            values += weight * frame.loc[rows, model].to_numpy(dtype=float)
        out[rows] = values
    if out.isna().any():
        missing = sorted(frame.loc[out.isna(), "level"].unique())
        raise ValueError(f"no ensemble weights (or missing model forecasts) for levels {missing}")
    return out
