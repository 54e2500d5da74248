"""Drift measures and the verdict they lead to.

* Input drift: the population stability index (PSI) of a feature between a reference sample
  (the training window) and a recent one,
  ``PSI = sum_b (p_cur,b - p_ref,b) * ln(p_cur,b / p_ref,b)`` over bins ``b`` cut at the
  reference's quantiles. By the usual reading, below 0.1 the distribution is stable, 0.1 to 0.25
  is a moderate shift, above 0.25 a large one.
* Error drift: the realised error of published forecasts against the band of errors the
  backtest found for the same model (the WAPE of each backtest window), widened by a tolerance.

:func:`verdict` turns a figure and two thresholds into ``ok``, ``warn`` or ``fail``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

__all__ = [
    "ErrorBand",
    "ErrorDrift",
    "Verdict",
    "assess_error_drift",
    "error_band",
    "feature_psi",
    "psi",
    "trailing_wape",
    "verdict",
]

# share given to an empty bin so that the logarithm stays finite
_EMPTY_BIN_SHARE = 1e-4


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


def verdict(value: float, warn_at: float, fail_at: float) -> Verdict:
    """``fail`` when ``value >= fail_at``, ``warn`` when ``value >= warn_at``, else ``ok``
    (a NaN value is ``ok``: nothing could be measured)."""
    if not warn_at <= fail_at:
        raise ValueError(f"the warn threshold ({warn_at}) must not exceed the fail one ({fail_at})")
    if np.isnan(value):
        return Verdict.OK
    if value >= fail_at:
        return Verdict.FAIL
    if value >= warn_at:
        return Verdict.WARN
    return Verdict.OK


def psi(reference: Iterable[float], current: Iterable[float], bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bin edges are the reference's quantiles (``bins`` equal-mass bins, ties merged), open at
    both ends so that values outside the reference's range land in the outer bins. NaNs are
    dropped; NaN when either sample is empty.
    """
    ref = np.asarray(list(reference), dtype=float)
    cur = np.asarray(list(current), dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    # right-closed bins (-inf, e1], (e1, e2], ..., (ek, inf), so that a point mass (e.g. weeks
    # without sales) keeps its own bin; np.histogram's bins are left-closed
    ref_share = np.bincount(np.searchsorted(inner, ref), minlength=inner.size + 1) / ref.size
    cur_share = np.bincount(np.searchsorted(inner, cur), minlength=inner.size + 1) / cur.size
    ref_share = np.clip(ref_share, _EMPTY_BIN_SHARE, None)
    cur_share = np.clip(cur_share, _EMPTY_BIN_SHARE, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def feature_psi(
    frame: pd.DataFrame,
    features: Sequence[str],
    reference_weeks: Sequence[pd.Timestamp],
    current_weeks: Sequence[pd.Timestamp],
    bins: int = 10,
) -> pd.DataFrame:
    """PSI of each of ``features`` (columns of ``frame``, which has a ``ds`` column) between the
    rows of ``reference_weeks`` and those of ``current_weeks``.

    Returns ``feature``, ``psi``, ``reference_mean``, ``current_mean``, ``reference_rows``,
    ``current_rows``, one row per feature present in ``frame``, largest PSI first.
    """
    ref = frame[frame["ds"].isin(pd.DatetimeIndex(reference_weeks))]
    cur = frame[frame["ds"].isin(pd.DatetimeIndex(current_weeks))]
    rows = []
    for feature in features:
        if feature not in frame:
            continue
        rows.append(
            {
                "feature": feature,
                "psi": psi(ref[feature], cur[feature], bins),
                "reference_mean": float(ref[feature].mean()),
                "current_mean": float(cur[feature].mean()),
                "reference_rows": int(ref[feature].notna().sum()),
                "current_rows": int(cur[feature].notna().sum()),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "feature",
            "psi",
            "reference_mean",
            "current_mean",
            "reference_rows",
            "current_rows",
        ],
    )
    return out.sort_values("psi", ascending=False, ignore_index=True, na_position="last")


@dataclass(frozen=True)
class ErrorBand:
    """The WAPE range of a model's backtest windows at one level, and how far above it the
    realised WAPE may go before it counts as drift."""

    lower: float
    upper: float
    windows: int
    tolerance: float

    @property
    def limit(self) -> float:
        """The highest realised WAPE still inside the band: ``upper * (1 + tolerance)``."""
        return self.upper * (1.0 + self.tolerance)

    def ratio(self, realised: float) -> float:
        """``realised / limit``: above 1 the realised error left the band."""
        return realised / self.limit if self.limit > 0 else float("inf")


def error_band(window_wapes: Iterable[float], tolerance: float) -> ErrorBand:
    """The band spanned by the backtest windows' WAPEs (NaNs dropped), widened upwards by the
    relative ``tolerance``; raises ``ValueError`` when no window has a WAPE."""
    values = np.asarray([v for v in window_wapes if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no backtest window has a WAPE: the error band is undefined")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    return ErrorBand(
        lower=float(values.min()),
        upper=float(values.max()),
        windows=int(values.size),
        tolerance=float(tolerance),
    )


@dataclass(frozen=True)
class ErrorDrift:
    """What :func:`assess_error_drift` found: the verdict, per-level weekly figures
    (``level``, ``target_week``, ``realised_wape``, ``band_upper``, ``limit``, ``ratio``,
    ``outside``) and a one-line reason per level."""

    verdict: Verdict
    weeks: pd.DataFrame
    reasons: dict[str, str]

    @property
    def description(self) -> str:
        return "; ".join(self.reasons.values()) or "nothing scored yet"


def trailing_wape(components: pd.DataFrame, level: str, window_weeks: int) -> pd.DataFrame:
    """Realised WAPE of ``level`` at each scored target week, pooled over that week and the
    ``window_weeks - 1`` before it (every horizon): ``target_week``, ``realised_wape``,
    ``actual_units``."""
    part = components[components["level"] == level]
    weekly = part.groupby("target_week")[["abs_error", "actual_units"]].sum().sort_index()
    if weekly.empty:
        return pd.DataFrame(columns=["target_week", "realised_wape", "actual_units"])
    weekly.index = pd.DatetimeIndex(weekly.index)
    rolling = weekly.rolling(f"{7 * window_weeks}D").sum()
    actual = rolling["actual_units"].where(rolling["actual_units"] > 0)
    return pd.DataFrame(
        {
            "target_week": rolling.index,
            "realised_wape": (rolling["abs_error"] / actual).to_numpy(),
            "actual_units": rolling["actual_units"].to_numpy(),
        }
    )


def assess_error_drift(
    components: pd.DataFrame,
    bands: dict[str, ErrorBand],
    *,
    window_weeks: int,
    escalate_after_weeks: int,
    fail_ratio: float,
) -> ErrorDrift:
    """Compare the realised WAPE of the latest scored target week (pooled over the trailing
    ``window_weeks``) with each level's band.

    A level warns when the realised WAPE is above the band's limit; it fails when it is at
    least ``fail_ratio`` times the limit, or when it was above the limit at each of the last
    ``escalate_after_weeks`` scored weeks. The verdict is the worst level's.

    Args:
        components: rows of :func:`forecast_pipeline.monitoring.accuracy.score_forecasts` with a
            ``target_week`` column, covering at least the weeks the escalation looks back on.
        bands: the error band of each level to check.
    """
    frames, reasons, verdicts = [], {}, [Verdict.OK]
    for level, band in bands.items():
        weekly = trailing_wape(components, level, window_weeks)
        if weekly.empty:
            continue
        weekly = weekly.assign(
            level=level,
            band_upper=band.upper,
            limit=band.limit,
            ratio=weekly["realised_wape"].map(band.ratio),
        )
        weekly["outside"] = weekly["ratio"] > 1
        frames.append(weekly)
        last = weekly.iloc[-1]
        recent = weekly.tail(escalate_after_weeks)
        run = _outside_run(weekly["outside"])
        figure = (
            f"{level} WAPE {last['realised_wape']:.3f} over the {window_weeks} weeks to "
            f"{last['target_week'].date()} vs backtest band {band.lower:.3f}-{band.upper:.3f} "
            f"(limit {band.limit:.3f}, ratio {last['ratio']:.2f}, {run} week(s) outside)"
        )
        if last["ratio"] >= fail_ratio or (
            len(recent) >= escalate_after_weeks and bool(recent["outside"].all())
        ):
            verdicts.append(Verdict.FAIL)
            reasons[level] = f"error drift: {figure}"
        elif last["outside"]:
            verdicts.append(Verdict.WARN)
            reasons[level] = f"error above band: {figure}"
        else:
            reasons[level] = f"within band: {figure}"
    order = [Verdict.OK, Verdict.WARN, Verdict.FAIL]
    weeks = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
            columns=[
                "level",
                "target_week",
                "realised_wape",
                "band_upper",
                "limit",
                "ratio",
                "outside",
            ]
        )
    )
    return ErrorDrift(max(verdicts, key=order.index), weeks, reasons)


def _outside_run(outside: pd.Series) -> int:
    """How many of the last weeks in a row were outside the band."""
    count = 0
    for value in reversed(outside.tolist()):
        if not value:
            break
        count += 1
    return count
