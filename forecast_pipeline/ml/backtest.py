"""Rolling-origin backtest of the baseline and the global model on shared cutoffs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from forecast_pipeline.ml.metrics import LEVELS, cutoff_scales, score_backtest
from forecast_pipeline.ml.models import MODELS, forecast_models
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = ["BacktestResult", "backtest", "backtest_cutoffs", "check_series"]

_KEY_COLUMNS = ("unique_id", "ds", "cutoff", "y")


def _empty_scales() -> pd.DataFrame:
    return pd.DataFrame(columns=["unique_id", "cutoff", "scale"])


@dataclass
class BacktestResult:
    """Outcome of :func:`backtest`.

    Attributes:
        predictions: ``unique_id``, ``ds``, ``cutoff``, ``y`` and one column per model with the
            point forecasts made at ``cutoff`` (clipped at 0, like the delivered forecasts).
        metrics: ``model``, ``level`` (``"product"``, ``"category"``, ``"total"``), ``cutoff``
            (NaT on the overall row), ``mae``, ``rmse``, ``wape``, ``mase``, ``bias``; see
            :mod:`forecast_pipeline.ml.metrics` for the definitions.
        scales: ``unique_id``, ``cutoff``, ``scale``: each product's in-sample naive MAE on
            the data up to the cutoff (MASE denominator, with the fallbacks of
            :func:`~forecast_pipeline.ml.metrics.robust_scale`), used to normalise residuals
            for the conformal intervals.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    scales: pd.DataFrame = field(default_factory=_empty_scales)

    @property
    def models(self) -> list[str]:
        """Model columns of :attr:`predictions`."""
        return [c for c in self.predictions.columns if c not in _KEY_COLUMNS]

    @property
    def cutoffs(self) -> list[pd.Timestamp]:
        """The backtest cutoffs (last training date of each window), ascending."""
        return sorted(pd.Timestamp(c) for c in self.predictions["cutoff"].unique())

    def leaderboard(self, level: str = "product") -> pd.DataFrame:
        """Overall metrics (all cutoffs pooled) of each model at ``level``, best WAPE first."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        overall = self.metrics[(self.metrics["level"] == level) & self.metrics["cutoff"].isna()]
        board = overall.drop(columns=["level", "cutoff"])
        return board.sort_values(["wape", "model"], na_position="last", ignore_index=True)

    def best_model(self, level: str = "product") -> str:
        """Name of the model with the lowest overall WAPE at ``level``."""
        board = self.leaderboard(level)
        if board.empty:
            raise ValueError(f"no metrics at level {level!r}")
        return str(board["model"].iloc[0])


def check_series(series: pd.DataFrame) -> pd.DataFrame:
    """Validate a long frame (``unique_id``, ``ds``, ``y``) and return it sorted, extra columns
    dropped. Raises ``ValueError`` on missing columns, duplicated (unique_id, ds) or missing y."""
    missing = {"unique_id", "ds", "y"} - set(series.columns)
    if missing:
        raise ValueError(f"series frame is missing columns {sorted(missing)}")
    if series.empty:
        raise ValueError("series frame is empty")
    out = series.loc[:, ["unique_id", "ds", "y"]].copy()
    out["ds"] = pd.to_datetime(out["ds"])
    out["y"] = out["y"].astype("float64")
    if out.duplicated(["unique_id", "ds"]).any():
        raise ValueError("series frame has duplicated (unique_id, ds) rows")
    if out["y"].isna().any():
        raise ValueError("series frame has missing y values; zero-fill it first")
    return out.sort_values(["unique_id", "ds"], ignore_index=True)


def backtest_cutoffs(series: pd.DataFrame, spec: ForecastSpec) -> list[pd.Timestamp]:
    """The ``spec.n_windows`` cutoffs, ``spec.step_size`` steps apart, the last one exactly
    ``spec.horizon`` steps before the last date of ``series`` (so every window is complete)."""
    last = pd.Timestamp(series["ds"].max())
    offset = spec.offset
    return [
        last - offset * (spec.horizon + (spec.n_windows - 1 - k) * spec.step_size)
        for k in range(spec.n_windows)
    ]


def backtest(series: pd.DataFrame, spec: ForecastSpec, categories: pd.DataFrame) -> BacktestResult:
    """Rolling-origin backtest of every model in :data:`~forecast_pipeline.ml.models.MODELS`.

    Cutoffs are global dates (:func:`backtest_cutoffs`) shared by both models. For each cutoff
    the models are fitted on ``series[ds <= cutoff]`` only - nothing after the cutoff is passed
    to them - and forecast ``spec.horizon`` steps, which are scored against the actuals in
    ``(cutoff, cutoff + horizon]``. Series without history at a cutoff (launched later) are not
    part of that window.

    Args:
        series: gap-free long frame ``unique_id``, ``ds``, ``y`` (e.g. :func:`weekly_series`).
        spec: forecast configuration.
        categories: ``unique_id`` -> ``category`` (missing products count as ``"unknown"``).

    Returns:
        A :class:`BacktestResult` with predictions, metrics at product/category/total level and
        the per-cutoff series scales.
    """
    series = check_series(series)
    cutoffs = backtest_cutoffs(series, spec)
    if series["ds"].min() > cutoffs[0]:
        raise ValueError(
            f"series too short for the backtest: the first cutoff {cutoffs[0].date()} is before "
            f"the first date {series['ds'].min().date()}; reduce horizon, n_windows or step_size"
        )
    windows = []
    for cutoff in cutoffs:
        train = series[series["ds"] <= cutoff]
        end = cutoff + spec.offset * spec.horizon
        actuals = series[(series["ds"] > cutoff) & (series["ds"] <= end)]
        fcst = forecast_models(train, spec, MODELS)
        window = actuals.merge(fcst, on=["unique_id", "ds"], how="inner")
        windows.append(window.assign(cutoff=cutoff))
    predictions = pd.concat(windows, ignore_index=True)
    for model in MODELS:
        predictions[model] = predictions[model].clip(lower=0.0)
    predictions = predictions[[*_KEY_COLUMNS, *MODELS]].sort_values(
        ["cutoff", "unique_id", "ds"], ignore_index=True
    )
    metrics = score_backtest(predictions, series, categories, MODELS, spec.season_length)
    scales = cutoff_scales(series, cutoffs, spec.season_length, robust=True)
    return BacktestResult(predictions=predictions, metrics=metrics, scales=scales)
