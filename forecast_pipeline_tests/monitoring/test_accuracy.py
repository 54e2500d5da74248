"""Realised-accuracy arithmetic: forecasts of one target week scored into additive components,
and the pooled metrics read back from them (pure, no database)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.ml.metrics import cutoff_scales
from forecast_pipeline.monitoring.accuracy import (
    COMPONENT_COLUMNS,
    KEY_COLUMNS,
    SEASON_LENGTH,
    fill_weeks,
    forecast_scales,
    metrics_from_components,
    score_forecasts,
)

TARGET = pd.Timestamp("2026-10-05")  # a Monday
EARLY = TARGET - pd.Timedelta(weeks=2)  # forecast week of the run two weeks ahead
LATE = TARGET - pd.Timedelta(weeks=1)  # forecast week of the run one week ahead


def _forecast(run, week, step, series_id, units, band_80, band_95):
    return {
        "run_id": run,
        "forecast_week": week.date(),
        "model_version": "3",
        "series_id": series_id,
        "category": "Home",
        "step": step,
        "units": units,
        "lower_80": band_80[0],
        "upper_80": band_80[1],
        "lower_95": band_95[0],
        "upper_95": band_95[1],
    }


def _forecasts() -> pd.DataFrame:
    """Products A and B of category Home forecast for TARGET by two runs."""
    return pd.DataFrame(
        [
            _forecast("early", EARLY, 2, "A", 12.0, (9, 11), (8, 13)),
            _forecast("early", EARLY, 2, "B", 3.0, (1, 4), (0, 5)),
            _forecast("late", LATE, 1, "A", 9.0, (8, 10), (7, 12)),
            _forecast("late", LATE, 1, "B", 0.5, (0, 1), (0, 2)),
        ]
    )


# A sold 10 units in the target week, B nothing (absent from the actuals)
ACTUALS = pd.DataFrame({"series_id": ["A", "Z"], "units": [10.0, 4.0]})
# B has no scale at the late run's week (e.g. no history then)
SCALES = pd.DataFrame(
    {
        "series_id": ["A", "B", "A"],
        "forecast_week": [EARLY, EARLY, LATE],
        "scale": [2.0, 1.5, 4.0],
    }
)


def _scored() -> pd.DataFrame:
    return score_forecasts(_forecasts(), ACTUALS, SCALES, "product").set_index("run_id")


def test_scored_rows_are_keyed_by_run_level_category_and_horizon() -> None:
    scored = score_forecasts(_forecasts(), ACTUALS, SCALES, "product")
    assert list(scored.columns) == KEY_COLUMNS + COMPONENT_COLUMNS
    assert scored[KEY_COLUMNS].to_dict("records") == [
        {
            "run_id": "early",
            "forecast_week": EARLY,
            "model_version": "3",
            "level": "product",
            "category": "Home",
            "horizon": 2,
        },
        {
            "run_id": "late",
            "forecast_week": LATE,
            "model_version": "3",
            "level": "product",
            "category": "Home",
            "horizon": 1,
        },
    ]


def test_each_component_sums_the_series_of_the_run() -> None:
    early = _scored().loc["early"]
    # A: 12 vs 10 (error +2, in 80% 9-11, in 95%); B: 3 vs 0 (error +3, out of 80% 1-4, in 95%)
    assert early["n_series"] == 2
    assert early["actual_units"] == 10.0
    assert early["forecast_units"] == 15.0
    assert early["abs_error"] == 5.0
    assert early["error"] == 5.0
    assert early["scaled_abs_error"] == pytest.approx(2 / 2.0 + 3 / 1.5)
    assert early["scaled_series"] == 2
    assert (early["in_80"], early["in_95"]) == (1, 2)


def test_a_series_without_a_scale_counts_in_all_but_the_scaled_error() -> None:
    late = _scored().loc["late"]
    # A: 9 vs 10 (error -1, 10 is the upper 80% bound: inside); B: 0.5 vs 0 (error +0.5)
    assert late["n_series"] == 2
    assert late["actual_units"] == 10.0
    assert late["forecast_units"] == 9.5
    assert late["abs_error"] == 1.5
    assert late["error"] == -0.5
    assert late["scaled_abs_error"] == pytest.approx(1 / 4.0)  # A only
    assert late["scaled_series"] == 1
    assert (late["in_80"], late["in_95"]) == (2, 2)


def test_interval_bounds_are_inclusive() -> None:
    forecasts = pd.DataFrame([_forecast("r", LATE, 1, "A", 12.0, (10, 12), (10, 12))])
    scored = score_forecasts(forecasts, ACTUALS, SCALES, "product")
    assert (scored.at[0, "in_80"], scored.at[0, "in_95"]) == (1, 1)


def test_category_and_total_levels_are_written_to_the_level_column() -> None:
    forecasts = _forecasts().query("run_id == 'late' and series_id == 'A'")
    scored = score_forecasts(forecasts, ACTUALS, SCALES, "total")
    assert scored["level"].tolist() == ["total"]


def test_missing_forecast_columns_are_named() -> None:
    forecasts = _forecasts().drop(columns=["step", "lower_95"])
    with pytest.raises(ValueError, match=r"missing columns \['lower_95', 'step'\]"):
        score_forecasts(forecasts, ACTUALS, SCALES, "product")


def test_no_forecasts_give_an_empty_frame_with_the_columns() -> None:
    scored = score_forecasts(_forecasts().iloc[0:0], ACTUALS, SCALES, "product")
    assert scored.empty
    assert list(scored.columns) == KEY_COLUMNS + COMPONENT_COLUMNS


# --- metrics_from_components -----------------------------------------------------------------


def _component_rows(*rows: tuple[str, int, float, float, float]) -> pd.DataFrame:
    """(category, horizon, actual, forecast, scaled_abs_error) with one series per row; the
    interval hits are set so that coverage is visible."""
    return pd.DataFrame(
        [
            {
                "category": category,
                "horizon": horizon,
                "n_series": 2,
                "actual_units": actual,
                "forecast_units": forecast,
                "abs_error": abs(forecast - actual),
                "error": forecast - actual,
                "scaled_abs_error": scaled,
                "scaled_series": 2 if scaled else 0,
                "in_80": 1,
                "in_95": 2,
            }
            for category, horizon, actual, forecast, scaled in rows
        ]
    )


def test_metrics_pool_the_components_instead_of_averaging_rates() -> None:
    components = _component_rows(
        ("Home", 1, 10.0, 11.0, 0.5),  # WAPE 0.1
        ("Home", 2, 30.0, 21.0, 1.5),  # WAPE 0.3
    )
    metrics = metrics_from_components(components, ["category"]).iloc[0]
    assert metrics["wape"] == pytest.approx(10 / 40)  # not (0.1 + 0.3) / 2 = 0.2
    assert metrics["bias"] == pytest.approx((1 - 9) / 40)
    assert metrics["mase"] == pytest.approx((0.5 + 1.5) / 4)
    assert metrics["coverage_80"] == pytest.approx(2 / 4)
    assert metrics["coverage_95"] == 1.0
    assert (metrics["n_series"], metrics["actual_units"], metrics["forecast_units"]) == (
        4,
        40.0,
        32.0,
    )


def test_metrics_have_one_row_per_group() -> None:
    components = _component_rows(
        ("Toys", 1, 8.0, 6.0, 0.0),
        ("Home", 1, 10.0, 11.0, 0.5),
        ("Home", 2, 30.0, 21.0, 1.5),
    )
    metrics = metrics_from_components(components, ["category", "horizon"])
    assert metrics[["category", "horizon"]].values.tolist() == [
        ["Home", 1],
        ["Home", 2],
        ["Toys", 1],
    ]
    assert metrics["wape"].tolist() == pytest.approx([0.1, 0.3, 0.25])


def test_wape_and_bias_are_nan_without_actual_units_and_mase_without_scaled_series() -> None:
    metrics = metrics_from_components(_component_rows(("Home", 1, 0.0, 3.0, 0.0)), ["category"])
    row = metrics.iloc[0]
    assert math.isnan(row["wape"])
    assert math.isnan(row["bias"])
    assert math.isnan(row["mase"])
    assert row["coverage_80"] == 0.5


# --- fill_weeks ------------------------------------------------------------------------------


def _monday(i: int) -> pd.Timestamp:
    return TARGET + pd.Timedelta(weeks=i)


def test_fill_weeks_adds_zero_weeks_from_each_series_first_week_to_the_last_week() -> None:
    weekly = pd.DataFrame(
        {
            "series_id": ["b", "a", "a"],
            "ds": [_monday(2), _monday(0), _monday(2)],
            "y": [7.0, 5.0, 3.0],
        }
    )
    filled = fill_weeks(weekly, _monday(3))
    assert filled.to_dict("records") == [
        {"series_id": "a", "ds": _monday(0), "y": 5.0},
        {"series_id": "a", "ds": _monday(1), "y": 0.0},
        {"series_id": "a", "ds": _monday(2), "y": 3.0},
        {"series_id": "a", "ds": _monday(3), "y": 0.0},
        {"series_id": "b", "ds": _monday(2), "y": 7.0},
        {"series_id": "b", "ds": _monday(3), "y": 0.0},
    ]


def test_fill_weeks_leaves_out_the_weeks_after_the_last_week() -> None:
    weekly = pd.DataFrame(
        {
            "series_id": ["a", "a", "late"],
            "ds": [_monday(0), _monday(4), _monday(5)],
            "y": [2.0, 9.0, 1.0],
        }
    )
    filled = fill_weeks(weekly, _monday(1))
    assert filled.to_dict("records") == [
        {"series_id": "a", "ds": _monday(0), "y": 2.0},
        {"series_id": "a", "ds": _monday(1), "y": 0.0},
    ]


def test_fill_weeks_of_nothing_is_empty() -> None:
    empty = pd.DataFrame({"series_id": [], "ds": pd.to_datetime([]), "y": []})
    assert fill_weeks(empty, TARGET).empty


# --- forecast_scales -------------------------------------------------------------------------


def _history(series_id: str, values) -> pd.DataFrame:
    weeks = pd.date_range(end=LATE, periods=len(values), freq="W-MON")
    return pd.DataFrame({"series_id": series_id, "ds": weeks, "y": np.asarray(values, float)})


def _scale(scales: pd.DataFrame, series_id: str, week: pd.Timestamp) -> float:
    row = scales[(scales["series_id"] == series_id) & (scales["forecast_week"] == week)]
    assert len(row) == 1, row
    return float(row["scale"].iloc[0])


def test_scale_of_a_long_series_is_its_seasonal_naive_mae() -> None:
    y = np.random.default_rng(5).integers(0, 40, size=60).astype(float)
    scales = forecast_scales(_history("long", y), [LATE, LATE - pd.Timedelta(weeks=3)])
    assert set(scales.columns) == {"series_id", "forecast_week", "scale"}
    assert _scale(scales, "long", LATE) == pytest.approx(np.mean(np.abs(y[52:] - y[:-52])))
    # three weeks earlier only the first 57 weeks are known
    known = y[:57]
    assert _scale(scales, "long", LATE - pd.Timedelta(weeks=3)) == pytest.approx(
        np.mean(np.abs(known[52:] - known[:-52]))
    )


def test_scale_of_a_short_series_falls_back_to_the_naive_mae() -> None:
    scales = forecast_scales(_history("short", [10, 14, 12, 16]), [LATE])
    assert _scale(scales, "short", LATE) == pytest.approx((4 + 2 + 4) / 3)


def test_scale_of_a_flat_series_falls_back_to_its_mean_and_of_a_zero_series_to_one() -> None:
    history = pd.concat([_history("flat", [5, 5, 5]), _history("zero", [0, 0, 0, 0])])
    scales = forecast_scales(history, [LATE])
    assert _scale(scales, "flat", LATE) == 5.0
    assert _scale(scales, "zero", LATE) == 1.0


def test_series_without_history_at_the_forecast_week_have_no_scale() -> None:
    scales = forecast_scales(_history("new", [3, 4]), [LATE - pd.Timedelta(weeks=2), LATE])
    assert scales["forecast_week"].tolist() == [LATE]


def _random_histories(rng: np.random.Generator) -> pd.DataFrame:
    """Gap-free weekly series starting on different weeks: long and short counts with zeros,
    intermittent and fractional series, flat and all-zero ones, series of exactly one season
    and one season plus a week, single points."""
    kinds = [
        ("counts", lambda n: rng.poisson(4.0, n), (60, 160)),
        ("short", lambda n: rng.poisson(4.0, n), (2, 52)),
        ("intermittent", lambda n: rng.binomial(1, 0.1, n) * rng.poisson(3.0, n), (10, 140)),
        ("fractional", lambda n: rng.gamma(2.0, 1.5, n), (30, 120)),
        ("flat", lambda n: np.full(n, 5.0), (1, 80)),
        ("zero", lambda n: np.zeros(n), (1, 80)),
        ("season", lambda n: rng.poisson(4.0, n), (SEASON_LENGTH, SEASON_LENGTH)),
        ("season_plus_one", lambda n: rng.poisson(4.0, n), (SEASON_LENGTH + 1,) * 2),
        ("single", lambda n: rng.poisson(4.0, n), (1, 1)),
    ]
    frames = []
    for kind, values, (shortest, longest) in kinds:
        for i in range(3):
            n = int(rng.integers(shortest, longest + 1))
            start = TARGET + pd.Timedelta(weeks=int(rng.integers(0, 40)))
            frames.append(
                pd.DataFrame(
                    {
                        "series_id": f"{kind}_{i}",
                        "ds": pd.date_range(start, periods=n, freq="W-MON"),
                        "y": np.asarray(values(n), float),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=1)


@pytest.mark.parametrize("seed", range(5))
def test_forecast_scales_equal_the_scales_recomputed_at_every_cutoff(seed: int) -> None:
    rng = np.random.default_rng(seed)
    history = _random_histories(rng)
    weeks = [TARGET + pd.Timedelta(weeks=int(k)) for k in rng.integers(-10, 220, size=25)]
    cutoffs = [
        TARGET - pd.Timedelta(weeks=3),  # before every series starts: no scale at all
        weeks[0],  # twice, as forecasts repeat their run's week
        TARGET + pd.Timedelta(weeks=30, days=2),  # a Wednesday
        *weeks,
    ]
    expected = cutoff_scales(
        history.rename(columns={"series_id": "unique_id"}), cutoffs, SEASON_LENGTH, robust=True
    ).rename(columns={"unique_id": "series_id", "cutoff": "forecast_week"})
    scales = forecast_scales(history, cutoffs)
    assert list(scales.columns) == ["series_id", "forecast_week", "scale"]
    assert scales[["series_id", "forecast_week"]].values.tolist() == (
        expected[["series_id", "forecast_week"]].values.tolist()
    )
    np.testing.assert_allclose(scales["scale"], expected["scale"].astype(float), rtol=1e-12, atol=0)


def test_forecast_scales_without_weeks_or_history_are_empty() -> None:
    assert forecast_scales(_history("a", [1, 2]), []).empty
    empty = pd.DataFrame({"series_id": [], "ds": pd.to_datetime([]), "y": []})
    assert forecast_scales(empty, [LATE]).empty
