"""Drift arithmetic: PSI of features, the verdict thresholds, the backtest error band and the
error-drift assessment of realised WAPE against it (pure, no Dagster, no database)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecast_pipeline.monitoring.drift import (
    ErrorBand,
    Verdict,
    assess_error_drift,
    error_band,
    feature_psi,
    psi,
    trailing_wape,
    verdict,
)

EMPTY_BIN_SHARE = 1e-4  # the share an empty bin gets (documented in drift.py)
MONDAY = pd.Timestamp("2026-09-07")


def _week(i: int) -> pd.Timestamp:
    return MONDAY + pd.Timedelta(weeks=i)


def _term(cur: float, ref: float) -> float:
    return (cur - ref) * math.log(cur / ref)


# --- psi -------------------------------------------------------------------------------------


def test_psi_of_a_sample_against_itself_is_zero() -> None:
    sample = np.random.default_rng(1).normal(size=500)
    assert psi(sample, sample) == 0.0


def test_psi_is_large_for_a_shifted_normal_in_both_directions() -> None:
    rng = np.random.default_rng(7)
    reference, shifted = rng.normal(0, 1, 5000), rng.normal(1, 1, 5000)
    assert psi(reference, shifted) > 0.25
    assert psi(shifted, reference) > 0.25


def test_psi_is_small_for_two_draws_of_the_same_distribution() -> None:
    rng = np.random.default_rng(7)
    assert psi(rng.normal(0, 1, 5000), rng.normal(0, 1, 5000)) < 0.1


def test_psi_matches_the_formula_on_a_tiny_example() -> None:
    # two bins cut at the reference's median 2.5: (-inf, 2.5] and (2.5, inf)
    # reference shares 2/4, 2/4; current [1, 3, 4, 5] shares 1/4, 3/4
    expected = _term(0.25, 0.5) + _term(0.75, 0.5)
    assert psi([1, 2, 3, 4], [1, 3, 4, 5], bins=2) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))


def test_psi_puts_values_outside_the_reference_range_in_the_outer_bins() -> None:
    # the current sample is entirely below the reference's minimum: all of it in the lower bin,
    # the upper bin empty (share 1e-4)
    expected = _term(1.0, 0.5) + _term(EMPTY_BIN_SHARE, 0.5)
    assert psi([1, 2, 3, 4], [-100, -50, 0, 0.5], bins=2) == pytest.approx(expected, rel=1e-12)
    # below and above the range in equal parts: the same shares as the reference
    assert psi([1, 2, 3, 4], [-100, -50, 50, 100], bins=2) == 0.0


def test_psi_is_nan_when_either_sample_is_empty_or_all_nan() -> None:
    assert math.isnan(psi([], [1.0, 2.0]))
    assert math.isnan(psi([1.0, 2.0], []))
    assert math.isnan(psi([1.0, 2.0], [float("nan"), float("nan")]))


def test_psi_ignores_nans_in_a_sample() -> None:
    expected = _term(0.25, 0.5) + _term(0.75, 0.5)  # as for [1, 3, 4, 5]
    assert psi([1, 2, 3, 4, float("nan")], [1, float("nan"), 3, 4, 5], bins=2) == pytest.approx(
        expected, rel=1e-12
    )


def test_psi_keeps_a_point_mass_of_zeros_in_its_own_bin() -> None:
    """A quarter of the reference weeks sold nothing; in the current sample those weeks sold
    half a unit. The zeros have their own bin, so the shift is a large one."""
    positive = list(range(1, 77))
    reference = [0.0] * 25 + positive
    current = [0.5] * 25 + positive
    # bins (-inf, 0], (0, 6], ...: 25/101 of the reference in the first, none of the current;
    # (0, 6] holds 6/101 of the reference and 31/101 of the current; the other bins match
    expected = _term(EMPTY_BIN_SHARE, 25 / 101) + _term(31 / 101, 6 / 101)
    assert psi(reference, current) == pytest.approx(expected, rel=1e-9)
    assert psi(reference, current) > 0.25


# --- feature_psi -----------------------------------------------------------------------------


def _feature_frame() -> pd.DataFrame:
    """Two reference weeks, one current week, and a week in neither with wild values."""
    rows = []
    for week, xs, ys in (
        (_week(0), [1.0, 2.0], [10.0, 20.0]),
        (_week(1), [3.0, 4.0], [30.0, 40.0]),
        (_week(2), [5.0, 6.0, 7.0, 8.0], [10.0, 20.0, 30.0, 40.0]),
        (_week(3), [1e6, 1e6], [1e6, 1e6]),
    ):
        rows += [{"ds": week, "x": x, "y": y} for x, y in zip(xs, ys, strict=True)]
    return pd.DataFrame(rows)


def test_feature_psi_compares_the_given_weeks_and_sorts_by_psi() -> None:
    table = feature_psi(
        _feature_frame(),
        ["y", "x", "not_a_column"],
        reference_weeks=[_week(0), _week(1)],
        current_weeks=[_week(2)],
        bins=2,
    )
    assert table["feature"].tolist() == ["x", "y"]  # largest PSI first; unknown column skipped
    x, y = table.iloc[0], table.iloc[1]
    # x: reference [1, 2, 3, 4] (median 2.5), current all above it
    assert x["psi"] == pytest.approx(_term(EMPTY_BIN_SHARE, 0.5) + _term(1.0, 0.5))
    assert y["psi"] == 0.0  # same values in both: week 3 was left out
    assert (x["reference_mean"], x["current_mean"]) == (2.5, 6.5)
    assert (y["reference_rows"], y["current_rows"]) == (4, 4)


# --- verdict ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, Verdict.OK),
        (0.0999, Verdict.OK),
        (0.1, Verdict.WARN),
        (0.2499, Verdict.WARN),
        (0.25, Verdict.FAIL),
        (3.0, Verdict.FAIL),
        (float("nan"), Verdict.OK),
    ],
)
def test_verdict_thresholds_are_inclusive(value: float, expected: Verdict) -> None:
    assert verdict(value, warn_at=0.1, fail_at=0.25) is expected


def test_verdict_with_equal_thresholds_fails_at_them() -> None:
    assert verdict(0.2, warn_at=0.2, fail_at=0.2) is Verdict.FAIL


def test_verdict_rejects_a_warn_threshold_above_the_fail_one() -> None:
    with pytest.raises(ValueError, match="warn threshold"):
        verdict(0.1, warn_at=0.3, fail_at=0.2)


def test_verdict_values_are_the_strings_users_see() -> None:
    assert [v.value for v in Verdict] == ["ok", "warn", "fail"]


# --- error_band ------------------------------------------------------------------------------


def test_error_band_spans_the_windows_and_widens_the_upper_end() -> None:
    band = error_band([0.2, float("nan"), 0.3, None, 0.25], tolerance=0.1)
    assert (band.lower, band.upper, band.windows, band.tolerance) == (0.2, 0.3, 3, 0.1)
    assert band.limit == pytest.approx(0.33)
    assert band.ratio(0.66) == pytest.approx(2.0)
    assert band.ratio(0.165) == pytest.approx(0.5)


def test_error_band_without_any_window_wape_raises() -> None:
    with pytest.raises(ValueError, match="no backtest window has a WAPE"):
        error_band([float("nan"), None], tolerance=0.1)
    with pytest.raises(ValueError, match="no backtest window has a WAPE"):
        error_band([], tolerance=0.1)


def test_error_band_rejects_a_negative_tolerance() -> None:
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        error_band([0.2, 0.3], tolerance=-0.1)


def test_error_band_ratio_is_infinite_when_the_limit_is_zero() -> None:
    assert ErrorBand(lower=0.0, upper=0.0, windows=2, tolerance=0.5).ratio(0.1) == math.inf


# --- trailing_wape ---------------------------------------------------------------------------


def _components(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    """(level, week index, abs_error, actual_units) rows, one per horizon."""
    return pd.DataFrame(
        [
            {"level": level, "target_week": _week(i), "abs_error": err, "actual_units": actual}
            for level, i, err, actual in rows
        ]
    )


def test_trailing_wape_pools_horizons_and_weeks_in_the_window_and_skips_gaps() -> None:
    components = _components(
        [
            ("product", 0, 2.0, 10.0),  # week 0, horizon 1
            ("product", 0, 4.0, 10.0),  # week 0, horizon 2
            ("product", 1, 1.0, 10.0),
            # week 2 was not scored
            ("product", 3, 3.0, 12.0),
            ("product", 3, 3.0, 12.0),
            ("category", 1, 1000.0, 1.0),  # another level
        ]
    )
    weekly = trailing_wape(components, "product", window_weeks=2)
    assert weekly["target_week"].tolist() == [_week(0), _week(1), _week(3)]
    # week 0: 6/20; week 1: (6 + 1)/(20 + 10); week 3: weeks 2-3 only, so 6/24
    assert weekly["realised_wape"].tolist() == pytest.approx([6 / 20, 7 / 30, 6 / 24])
    assert weekly["actual_units"].tolist() == [20.0, 30.0, 24.0]


def test_trailing_wape_is_nan_without_actual_units() -> None:
    weekly = trailing_wape(_components([("total", 0, 5.0, 0.0)]), "total", window_weeks=1)
    assert math.isnan(weekly["realised_wape"].iloc[0])


def test_trailing_wape_of_an_unscored_level_is_empty() -> None:
    weekly = trailing_wape(_components([("product", 0, 1.0, 2.0)]), "total", window_weeks=4)
    assert weekly.empty
    assert list(weekly.columns) == ["target_week", "realised_wape", "actual_units"]


# --- assess_error_drift ----------------------------------------------------------------------

# backtest windows at WAPE 0.125 and 0.25, tolerance 100%: limit 0.5 (exact in binary)
BAND = error_band([0.125, 0.25], tolerance=1.0)


def _weekly(wapes: list[float], level: str = "product") -> pd.DataFrame:
    """One scored week per WAPE (100 units sold each), consecutive weeks from week 0."""
    return _components([(level, i, 100.0 * w, 100.0) for i, w in enumerate(wapes)])


def _assess(components: pd.DataFrame, bands: dict[str, ErrorBand] | None = None, **policy):
    settings = {"window_weeks": 1, "escalate_after_weeks": 3, "fail_ratio": 1.5} | policy
    return assess_error_drift(components, bands or {"product": BAND}, **settings)


def test_error_within_the_band_is_ok() -> None:
    result = _assess(_weekly([0.3, 0.4]))
    assert result.verdict is Verdict.OK
    assert result.reasons["product"].startswith("within band: product WAPE 0.400")


def test_error_exactly_at_the_limit_is_inside_the_band() -> None:
    result = _assess(_weekly([0.5, 0.5, 0.5]))
    assert result.verdict is Verdict.OK
    assert result.weeks["outside"].tolist() == [False, False, False]


def test_error_above_the_limit_once_warns() -> None:
    result = _assess(_weekly([0.25, 0.25, 0.6]))
    assert result.verdict is Verdict.WARN
    assert result.weeks["outside"].tolist() == [False, False, True]
    assert result.weeks["ratio"].tolist() == pytest.approx([0.5, 0.5, 1.2])
    assert result.weeks["limit"].tolist() == [0.5, 0.5, 0.5]


def test_error_at_fail_ratio_times_the_limit_fails_at_once() -> None:
    result = _assess(_weekly([0.25, 0.75]))  # 0.75 / 0.5 = 1.5
    assert result.verdict is Verdict.FAIL
    assert result.reasons["product"].startswith("error drift: ")


def test_error_just_below_fail_ratio_times_the_limit_only_warns() -> None:
    assert _assess(_weekly([0.25, 0.74])).verdict is Verdict.WARN


def test_error_above_the_limit_for_escalate_after_weeks_scored_weeks_fails() -> None:
    result = _assess(_weekly([0.25, 0.55, 0.55, 0.55]))  # ratio 1.1, three weeks running
    assert result.verdict is Verdict.FAIL
    assert "3 week(s) outside" in result.description


def test_an_interrupted_run_of_weeks_above_the_limit_only_warns() -> None:
    result = _assess(_weekly([0.55, 0.25, 0.55, 0.55]))
    assert result.verdict is Verdict.WARN
    assert "2 week(s) outside" in result.description


def test_fewer_scored_weeks_than_escalate_after_weeks_only_warn() -> None:
    result = _assess(_weekly([0.55, 0.55]))  # both outside, but only two weeks scored
    assert result.verdict is Verdict.WARN


def test_the_trailing_window_is_pooled_before_comparing() -> None:
    # the last week alone (0.6) is above the limit; pooled with the week before it is not:
    # (25 + 60) / 200 = 0.425
    result = _assess(_weekly([0.25, 0.6]), window_weeks=2)
    assert result.verdict is Verdict.OK
    assert result.weeks["realised_wape"].iloc[-1] == pytest.approx(0.425)


def test_the_worst_level_decides_the_verdict() -> None:
    components = pd.concat([_weekly([0.4], "product"), _weekly([0.6], "category")])
    bands = {"product": BAND, "category": BAND, "total": BAND}
    warned = _assess(components, bands)
    assert warned.verdict is Verdict.WARN  # product ok, category warns
    failed = _assess(pd.concat([components, _weekly([1.0], "total")]), bands)
    assert failed.verdict is Verdict.FAIL  # and total at twice the limit fails
    assert [reason.split(":")[0] for reason in failed.reasons.values()] == [
        "within band",
        "error above band",
        "error drift",
    ]


def test_the_description_names_the_level_wape_band_and_ratio() -> None:
    result = _assess(_weekly([0.25, 0.25, 0.6]))
    assert result.description == (
        f"error above band: product WAPE 0.600 over the 1 weeks to {_week(2).date()} vs "
        "backtest band 0.125-0.250 (limit 0.500, ratio 1.20, 1 week(s) outside)"
    )


def test_levels_without_scores_are_skipped_and_nothing_scored_says_so() -> None:
    result = _assess(_weekly([0.9], "category"))  # only the product level has a band
    assert result.verdict is Verdict.OK
    assert result.reasons == {}
    assert result.description == "nothing scored yet"
    assert result.weeks.empty
