"""Rolling-origin backtest of every base model, at every level, on shared cutoffs."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from forecast_pipeline.ml.models import ModelInputs, base_forecasts
from forecast_pipeline.ml.reconciliation import aggregate_levels
from forecast_pipeline.ml.spec import ForecastSpec

__all__ = ["KEY_COLUMNS", "BacktestResult", "backtest", "backtest_cutoffs", "check_series"]

KEY_COLUMNS = ("level", "unique_id", "ds", "cutoff", "step", "y")


@dataclass
class BacktestResult:
    """Outcome of :func:`backtest`.

    Attributes:
        predictions: ``level``, ``unique_id``, ``ds``, ``cutoff``, ``step`` (1 = first period
            after the cutoff), ``y`` and one column per model with the point forecasts made at
            ``cutoff``, clipped at 0 like the delivered forecasts (NaN where a model does not
            forecast a level).
        history: ``level``, ``unique_id``, ``ds``, ``y``: the series of every level the
            backtest ran on (MASE scales, interval scales, cold-start shares).
    """

    predictions: pd.DataFrame
    history: pd.DataFrame

    @property
    def models(self) -> list[str]:
        """Model columns of :attr:`predictions`."""
        return [c for c in self.predictions.columns if c not in KEY_COLUMNS]

    @property
    def cutoffs(self) -> list[pd.Timestamp]:
        """The backtest cutoffs (last training date of each window), ascending."""
        return sorted(pd.Timestamp(c) for c in self.predictions["cutoff"].unique())

    def windows(self, cutoffs: list[pd.Timestamp]) -> BacktestResult:
        """The same backtest restricted to ``cutoffs`` (e.g. to calibrate on earlier windows)."""
        keep = self.predictions["cutoff"].isin(pd.to_datetime(pd.Series(cutoffs)))
        return BacktestResult(self.predictions[keep].reset_index(drop=True), self.history)


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


def backtest(
    series: pd.DataFrame,
    spec: ForecastSpec,
    inputs: ModelInputs,
    cutoffs: list[pd.Timestamp] | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of every model of ``spec`` at every level.

    For each cutoff the models get ``series[ds <= cutoff]`` only, through
    :func:`~forecast_pipeline.ml.models.base_forecasts` (exogenous features are restricted to
    what is known at the cutoff there), and forecast ``spec.horizon`` steps, which are compared
    with the actuals of ``(cutoff, cutoff + horizon]`` at the product, category and total
    levels. Products without history at a cutoff (launched later) are not part of that window.

    Args:
        series: gap-free product series ``unique_id``, ``ds``, ``y``.
        spec: forecast configuration.
        inputs: categories, exogenous features and tuned parameters.
        cutoffs: the cutoffs; default :func:`backtest_cutoffs`.

    Returns:
        A :class:`BacktestResult`.
    """
    series = check_series(series)
    cutoffs = backtest_cutoffs(series, spec) if cutoffs is None else sorted(cutoffs)
    if series["ds"].min() > cutoffs[0]:
        raise ValueError(
            f"series too short for the backtest: the first cutoff {cutoffs[0].date()} is before "
            f"the first date {series['ds'].min().date()}; reduce horizon, n_windows or step_size"
        )
    history = aggregate_levels(series, inputs.categories, ["y"])
    windows = []
    for cutoff in cutoffs:
        train = series[series["ds"] <= cutoff]
        end = cutoff + spec.offset * spec.horizon
        actuals = history[(history["ds"] > cutoff) & (history["ds"] <= end)]
        fcst = base_forecasts(train, spec, inputs)
        window = actuals.merge(fcst, on=["level", "unique_id", "ds"], how="inner")
        windows.append(window.assign(cutoff=cutoff))
    predictions = pd.concat(windows, ignore_index=True)
    models = [c for c in predictions.columns if c not in KEY_COLUMNS]
    predictions[models] = predictions[models].clip(lower=0.0)
    predictions = predictions.sort_values(["cutoff", "level", "unique_id", "ds"], ignore_index=True)
    predictions["step"] = predictions.groupby(["cutoff", "level", "unique_id"]).cumcount() + 1
    return BacktestResult(predictions=predictions[[*KEY_COLUMNS, *models]], history=history)
