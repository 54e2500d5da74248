"""Split-conformal prediction intervals calibrated on backtest residuals, per level.

Scale. Residuals are divided by the series' in-sample naive MAE on the data up to the cutoff
(:func:`~forecast_pipeline.ml.metrics.robust_scale`, the MASE denominator). This puts series of
very different size on one scale, so the scores of all series of a level can be pooled, and
each series' interval width is proportional to its own typical error.

Per-period intervals. The score of a backtest point is ``|y - yhat| / scale``. Scores are
pooled by level and by horizon bucket (:func:`horizon_buckets`: the first step, then ever
longer ranges of steps), across series and backtest windows: buckets rather than single steps
keep enough scores per quantile at the category and total levels, which have few series
(buckets with fewer than :data:`MIN_BUCKET_SCORES` scores are merged with the next one). The
conformal quantile of level ``a`` is the ``ceil((n + 1) a)``-th smallest of the ``n`` scores
(the largest one if there are too few); quantiles are made non-decreasing along the horizon
and across levels (95 % at least as wide as 80 %). Interval: ``yhat -/+ q * scale``, clipped
at 0.

Window totals. The week, month and year ahead (``spec.interval_windows``) get their own
quantiles, calibrated on the window totals: the score is ``|sum y - sum yhat| / scale`` over
the window's steps, pooled over the series of a level and the backtest windows. Adding
per-step quantiles instead would assume perfectly correlated errors and give too wide (or,
with negatively correlated errors, too narrow) ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast_pipeline.ml.metrics import INTERVAL_PERCENTS, cutoff_scales, robust_scale

__all__ = [
    "INTERVAL_LEVELS",
    "Calibration",
    "add_intervals",
    "calibrate",
    "horizon_buckets",
    "interval_columns",
    "level_scales",
    "origin_scales",
    "window_totals",
]

INTERVAL_LEVELS: tuple[int, ...] = INTERVAL_PERCENTS
MIN_BUCKET_SCORES = 100


def interval_columns(levels: Sequence[int] = INTERVAL_LEVELS) -> list[str]:
    """``lo_80``, ``hi_80``, ``lo_95``, ``hi_95`` (for the default levels)."""
    return [f"{side}_{p}" for p in levels for side in ("lo", "hi")]


def horizon_buckets(horizon: int) -> np.ndarray:
    """Bucket number of each step ``1..horizon``: step 1, then steps up to ``h/13``, ``h/4``,
    ``h/2`` and ``h`` (for 52 weeks: 1 | 2-4 | 5-13 | 14-26 | 27-52)."""
    edges = sorted({1, math.ceil(horizon / 13), math.ceil(horizon / 4), math.ceil(horizon / 2)})
    steps = np.arange(1, horizon + 1)
    return np.searchsorted(np.array(edges), steps, side="left")


def level_scales(
    history: pd.DataFrame, cutoffs: Sequence[pd.Timestamp], season_length: int
) -> pd.DataFrame:
    """Robust scale of every series of every level at each cutoff.

    Args:
        history: ``level``, ``unique_id``, ``ds``, ``y``.
        cutoffs: the dates the scales are computed at (data up to and including each).
        season_length: seasonal period.

    Returns:
        ``level``, ``unique_id``, ``cutoff``, ``scale``.
    """
    frames = []
    for level, part in history.groupby("level", sort=False):
        scales = cutoff_scales(part, cutoffs, season_length, robust=True)
        frames.append(scales.assign(level=level))
    return pd.concat(frames, ignore_index=True)[["level", "unique_id", "cutoff", "scale"]]


def origin_scales(history: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Robust scale of every series of every level on its whole history: ``level``,
    ``unique_id``, ``scale``."""
    frames = [
        robust_scale(part, season_length).assign(level=level)
        for level, part in history.groupby("level", sort=False)
    ]
    return pd.concat(frames, ignore_index=True)[["level", "unique_id", "scale"]]


def window_totals(
    frame: pd.DataFrame, windows: Mapping[str, int], value_cols: Sequence[str]
) -> pd.DataFrame:
    """Totals of ``value_cols`` over the first ``n`` steps of each window.

    Args:
        frame: ``level``, ``unique_id``, ``step`` and ``value_cols``, plus ``cutoff`` for
            backtest predictions (one window total per cutoff).
        windows: window name -> number of steps from the origin.
        value_cols: columns summed.

    Returns:
        The key columns, ``window``, ``n_steps`` and the summed ``value_cols``; a series with
        fewer than ``n`` steps available has no row for that window.
    """
    keys = [c for c in ("level", "unique_id", "cutoff") if c in frame.columns]
    frames = []
    for name, n_steps in windows.items():
        part = frame[frame["step"] <= n_steps]
        summed = part.groupby(keys, as_index=False, sort=False).agg(
            n=("step", "size"), **{c: (c, "sum") for c in value_cols}
        )
        summed = summed[summed["n"] == n_steps].drop(columns="n")
        frames.append(summed.assign(window=name, n_steps=n_steps))
    return pd.concat(frames, ignore_index=True)[[*keys, "window", "n_steps", *value_cols]]


@dataclass
class Calibration:
    """Conformal quantiles of one model's scaled backtest errors, per level.

    Attributes:
        steps: ``level``, ``step``, ``q_80``, ``q_95``: quantiles for single periods.
        windows: ``level``, ``window``, ``n_steps``, ``q_80``, ``q_95``: quantiles for window
            totals.
    """

    steps: pd.DataFrame
    windows: pd.DataFrame


def calibrate(
    predictions: pd.DataFrame,
    model: str,
    history: pd.DataFrame,
    *,
    horizon: int,
    season_length: int,
    windows: Mapping[str, int],
    levels: Sequence[int] = INTERVAL_LEVELS,
) -> Calibration:
    """Conformal quantiles of ``model`` from backtest predictions.

    Args:
        predictions: ``level``, ``unique_id``, ``cutoff``, ``step``, ``y`` and ``model``.
        model: the model column calibrated.
        history: ``level``, ``unique_id``, ``ds``, ``y`` (scales at each cutoff).
        horizon: steps of the forecast (buckets beyond the backtest reuse the last one).
        season_length: seasonal period of the scales.
        windows: window name -> steps (see :func:`window_totals`).
        levels: interval levels in percent.
    """
    cutoffs = sorted(pd.to_datetime(predictions["cutoff"].unique()))
    scales = level_scales(history, cutoffs, season_length)
    preds = predictions[["level", "unique_id", "cutoff", "step", "y", model]].merge(
        scales, on=["level", "unique_id", "cutoff"], how="left"
    )
    if preds["scale"].isna().any():
        raise ValueError("backtest predictions without history at their cutoff")
    preds["score"] = (preds["y"] - preds[model]).abs() / preds["scale"]
    buckets = horizon_buckets(horizon)
    preds["bucket"] = buckets[np.minimum(preds["step"].to_numpy(), horizon) - 1]
    step_rows = []
    for level, part in preds.groupby("level", sort=False):
        merged = _merge_small_buckets(part["bucket"], MIN_BUCKET_SCORES)
        quant = {
            f"q_{p}": part.groupby(merged)["score"].agg(_conformal_quantile, level=p)
            for p in sorted(levels)
        }
        # a group is labelled by its last bucket: the buckets before it take its quantile
        table = pd.DataFrame(quant).reindex(range(int(buckets.max()) + 1)).bfill().ffill()
        table = table.cummax(axis=0).cummax(axis=1)
        per_step = table.loc[buckets].reset_index(drop=True)
        per_step.insert(0, "step", np.arange(1, horizon + 1))
        step_rows.append(per_step.assign(level=level))
    steps = pd.concat(step_rows, ignore_index=True)
    totals = window_totals(preds, windows, ["y", model])
    totals = totals.merge(scales, on=["level", "unique_id", "cutoff"], how="left")
    totals["score"] = (totals["y"] - totals[model]).abs() / totals["scale"]
    window_rows = []
    for (level, name, n_steps), part in totals.groupby(["level", "window", "n_steps"], sort=False):
        row = {"level": level, "window": name, "n_steps": n_steps}
        for p in sorted(levels):
            row[f"q_{p}"] = _conformal_quantile(part["score"], p)
        window_rows.append(row)
    window_frame = pd.DataFrame(window_rows)
    qcols = [f"q_{p}" for p in sorted(levels)]
    if not window_frame.empty:
        window_frame[qcols] = window_frame[qcols].cummax(axis=1)
    return Calibration(
        steps=steps[["level", "step", *qcols]],
        windows=window_frame.reindex(columns=["level", "window", "n_steps", *qcols]),
    )


def _merge_small_buckets(bucket: pd.Series, min_scores: int) -> pd.Series:
    """Bucket labels where each bucket with fewer than ``min_scores`` scores is merged into the
    next one (a short last group into the one before): a level with few series (3 categories,
    3 windows: 9 scores at step 1) would otherwise take its maximum score as the 80 % quantile,
    and the monotone envelope would spread that over the whole horizon. Each group is labelled
    by its last bucket."""
    groups: list[list[int]] = [[]]
    running = 0
    for label, count in bucket.value_counts().sort_index().items():
        groups[-1].append(int(label))
        running += int(count)
        if running >= min_scores:
            groups.append([])
            running = 0
    if not groups[-1]:
        groups.pop()
    elif len(groups) > 1 and running < min_scores:
        groups[-2].extend(groups.pop())
    return bucket.map({b: group[-1] for group in groups for b in group})


def _conformal_quantile(scores: pd.Series, level: int) -> float:
    values = np.sort(scores.to_numpy(dtype=float))
    n = values.size
    k = min(math.ceil((n + 1) * level / 100.0), n)
    return float(values[k - 1])


def add_intervals(
    frame: pd.DataFrame,
    quantiles: pd.DataFrame,
    on: Sequence[str],
    value_col: str = "yhat",
    levels: Sequence[int] = INTERVAL_LEVELS,
) -> pd.DataFrame:
    """Add ``lo_<p>``/``hi_<p>`` to ``frame``: ``value -/+ q_<p> * scale``, clipped at 0.

    Args:
        frame: needs ``scale``, ``value_col`` and the ``on`` columns.
        quantiles: :attr:`Calibration.steps` (``on=["level", "step"]``) or
            :attr:`Calibration.windows` (``on=["level", "window"]``).
        on: join columns.
        value_col: the point forecast column.
        levels: interval levels in percent.
    """
    qcols = [f"q_{p}" for p in levels]
    out = frame.merge(quantiles[[*on, *qcols]], on=list(on), how="left")
    if out[qcols].isna().any().any():
        missing = out.loc[out[qcols].isna().any(axis=1), list(on)].drop_duplicates()
        raise ValueError(f"no calibrated quantile for {missing.to_dict('records')[:3]}")
    value = out[value_col].to_numpy(dtype=float)
    scale = out["scale"].to_numpy(dtype=float)
    for p in levels:
        width = out[f"q_{p}"].to_numpy(dtype=float) * scale
        out[f"lo_{p}"] = np.clip(value - width, 0.0, None)
        out[f"hi_{p}"] = np.clip(value + width, 0.0, None)
    return out.drop(columns=qcols)
