"""Accuracy metrics of backtest predictions at product, category and total level.

Definitions (``e = yhat - y``, sums over every scored point of the group):

* ``mae``  = mean ``|e|``; ``rmse`` = sqrt(mean ``e**2``);
* ``wape`` = sum ``|e|`` / sum ``|y|``;
* ``bias`` = sum ``e`` / sum ``y`` (positive = over-forecast);
* ``r2`` = 1 - sum ``e**2`` / sum ``(y - mean y)**2``;
* ``coverage_<p>`` = share of points with ``lo_<p> <= y <= hi_<p>`` and ``width_<p>`` = mean
  ``hi_<p> - lo_<p>`` (units), for the model whose intervals are given;
* ``mase`` = mean over series (and cutoffs) of ``MAE_series / scale_series``, where the scale is
  the in-sample MAE of the seasonal-naive forecast on the training data available at the cutoff
  (:func:`series_scale`). Series with less than one season plus one point of history use the
  lag-1 naive MAE instead; series whose scale is zero or undefined are left out of the mean.

Each level is scored on its own series (products, categories, the total), with the MASE scale
computed on that level's history.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from utilsforecast.losses import mae as uf_mae

__all__ = [
    "INTERVAL_PERCENTS",
    "LEVELS",
    "METRIC_COLUMNS",
    "UNKNOWN_CATEGORY",
    "attach_categories",
    "cutoff_scales",
    "robust_scale",
    "score_predictions",
    "series_scale",
    "sort_by_level",
]

LEVELS: tuple[str, ...] = ("product", "category", "total")
INTERVAL_PERCENTS: tuple[int, ...] = (80, 95)
METRIC_COLUMNS = [
    "model",
    "level",
    "cutoff",
    "mae",
    "rmse",
    "wape",
    "mase",
    "bias",
    "r2",
    *[f"{kind}_{p}" for p in INTERVAL_PERCENTS for kind in ("coverage", "width")],
]
UNKNOWN_CATEGORY = "unknown"
_TOTAL_ID = "total"


def sort_by_level(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by ``by`` (which starts with ``level``), levels in :data:`LEVELS` order
    (product, category, total) rather than alphabetically; fresh index."""
    order = {name: i for i, name in enumerate(LEVELS)}
    return frame.sort_values(
        list(by),
        key=lambda col: col.map(order) if col.name == "level" else col,
        ignore_index=True,
    )


def attach_categories(frame: pd.DataFrame, categories: pd.DataFrame) -> pd.DataFrame:
    """Add a ``category`` column to ``frame`` by ``unique_id``.

    ``categories`` has columns ``unique_id``, ``category`` (one row per product). Products
    missing from it get the category ``"unknown"`` so that category totals still add up to the
    grand total.
    """
    missing = {"unique_id", "category"} - set(categories.columns)
    if missing:
        raise ValueError(f"categories frame is missing columns {sorted(missing)}")
    mapping = categories.drop_duplicates("unique_id").set_index("unique_id")["category"]
    out = frame.copy()
    out["category"] = out["unique_id"].map(mapping).fillna(UNKNOWN_CATEGORY)
    return out


def series_scale(history: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """In-sample naive MAE of each series, the denominator of MASE and of the interval scores.

    ``scale = mean |y_t - y_{t-season_length}|`` over the series' history; when the history
    has at most ``season_length`` points it falls back to ``mean |y_t - y_{t-1}|``. Series with a
    single point get NaN.

    Args:
        history: ``unique_id``, ``ds``, ``y`` (gap free).
        season_length: seasonal period in steps.

    Returns:
        ``unique_id``, ``scale``.
    """
    hist = history.sort_values(["unique_id", "ds"])
    grouped = hist.groupby("unique_id", sort=True)["y"]
    seasonal = (hist["y"] - grouped.shift(season_length)).abs()
    naive = (hist["y"] - grouped.shift(1)).abs()
    seas_scale = seasonal.groupby(hist["unique_id"]).mean()
    naive_scale = naive.groupby(hist["unique_id"]).mean()
    scale = seas_scale.fillna(naive_scale)
    return scale.rename("scale").rename_axis("unique_id").reset_index()


def robust_scale(history: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """:func:`series_scale` made usable as a divisor: where it is zero or undefined (a single
    observation, a constant history) fall back to the series' mean ``|y|``, then to 1.

    Returns ``unique_id``, ``scale`` (finite and > 0).
    """
    raw = series_scale(history, season_length).set_index("unique_id")["scale"]
    level = history["y"].abs().groupby(history["unique_id"]).mean().reindex(raw.index)
    scale = raw.where(raw > 0).fillna(level.where(level > 0)).fillna(1.0)
    return scale.rename("scale").rename_axis("unique_id").reset_index()


def cutoff_scales(
    history: pd.DataFrame,
    cutoffs: Sequence[pd.Timestamp],
    season_length: int,
    *,
    robust: bool = False,
) -> pd.DataFrame:
    """:func:`series_scale` (or :func:`robust_scale` if ``robust``) of every series on its
    history up to (and including) each cutoff.

    Returns ``unique_id``, ``cutoff``, ``scale`` (series without history at a cutoff are absent).
    """
    scale_fn = robust_scale if robust else series_scale
    frames = []
    for cutoff in sorted(pd.to_datetime(pd.Series(cutoffs)).unique()):
        scale = scale_fn(history[history["ds"] <= cutoff], season_length)
        frames.append(scale.assign(cutoff=cutoff))
    if not frames:
        return pd.DataFrame(columns=["unique_id", "cutoff", "scale"])
    return pd.concat(frames, ignore_index=True)[["unique_id", "cutoff", "scale"]]


def score_predictions(
    predictions: pd.DataFrame,
    history: pd.DataFrame,
    models: Sequence[str],
    season_length: int,
    *,
    interval_model: str | None = None,
) -> pd.DataFrame:
    """Metrics of every model at every level of ``predictions``, per cutoff and overall.

    Args:
        predictions: ``level``, ``unique_id``, ``ds``, ``cutoff``, ``y`` and one column per
            model (NaN where a model does not forecast a level: it is not scored there).
        history: ``level``, ``unique_id``, ``ds``, ``y``: the series of every level; for each
            cutoff only the part up to the cutoff is used (MASE scale).
        models: model columns to score.
        season_length: seasonal period of the MASE scale.
        interval_model: the model whose intervals are the ``lo_<p>``/``hi_<p>`` columns of
            ``predictions``; its rows get coverage and width, the others NaN.

    Returns:
        Columns :data:`METRIC_COLUMNS`; ``cutoff`` is NaT on the overall row of each
        (model, level).
    """
    frames = []
    for level in LEVELS:
        level_preds = predictions[predictions["level"] == level]
        if level_preds.empty:
            continue
        level_hist = history.loc[history["level"] == level, ["unique_id", "ds", "y"]]
        frames.append(
            _score_level(level_preds, level_hist, models, season_length, level, interval_model)
        )
    if not frames:
        raise ValueError("no predictions to score")
    metrics = pd.concat(frames, ignore_index=True)
    metrics["cutoff"] = pd.to_datetime(metrics["cutoff"])
    return metrics[METRIC_COLUMNS]


def _score_level(
    preds: pd.DataFrame,
    hist: pd.DataFrame,
    models: Sequence[str],
    season_length: int,
    level: str,
    interval_model: str | None,
) -> pd.DataFrame:
    models = [m for m in models if m in preds and preds[m].notna().all()]
    mase = _mase(preds, hist, models, season_length)
    rows = []
    groups = [(cutoff, part) for cutoff, part in preds.groupby("cutoff", sort=True)]
    groups.append((pd.NaT, preds))
    for cutoff, part in groups:
        part_mase = mase if pd.isna(cutoff) else mase[mase["cutoff"] == cutoff]
        for model in models:
            y = part["y"].to_numpy(dtype=float)
            row = _pooled(y, part[model].to_numpy(dtype=float))
            values = part_mase[model].to_numpy()
            values = values[np.isfinite(values)]
            row["mase"] = float(values.mean()) if values.size else np.nan
            for p in INTERVAL_PERCENTS:
                row[f"coverage_{p}"] = row[f"width_{p}"] = np.nan
                if model == interval_model and f"lo_{p}" in part:
                    lo = part[f"lo_{p}"].to_numpy(dtype=float)
                    hi = part[f"hi_{p}"].to_numpy(dtype=float)
                    row[f"coverage_{p}"] = float(np.mean((lo <= y) & (y <= hi)))
                    row[f"width_{p}"] = float(np.mean(hi - lo))
            rows.append({"model": model, "level": level, "cutoff": cutoff, **row})
    return pd.DataFrame(rows)


def _pooled(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    err = yhat - y
    abs_sum = float(np.abs(y).sum())
    y_sum = float(y.sum())
    total_ss = float(((y - y.mean()) ** 2).sum()) if y.size else 0.0
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "wape": float(np.abs(err).sum() / abs_sum) if abs_sum > 0 else np.nan,
        "bias": float(err.sum() / y_sum) if y_sum != 0 else np.nan,
        "r2": 1.0 - float((err**2).sum()) / total_ss if total_ss > 0 else np.nan,
    }


def _mase(
    preds: pd.DataFrame, hist: pd.DataFrame, models: Sequence[str], season_length: int
) -> pd.DataFrame:
    """MASE per (cutoff, series): utilsforecast MAE divided by :func:`cutoff_scales`."""
    models = list(models)
    df = preds[["unique_id", "ds", "cutoff", "y", *models]]
    mae = uf_mae(df, models, cutoff_col="cutoff")
    scales = cutoff_scales(hist, preds["cutoff"].unique(), season_length)
    merged = mae.merge(scales, on=["unique_id", "cutoff"], how="left")
    scale = merged["scale"].where(merged["scale"] > 0)
    for model in models:
        merged[model] = merged[model] / scale
    return merged[["cutoff", "unique_id", *models]]
