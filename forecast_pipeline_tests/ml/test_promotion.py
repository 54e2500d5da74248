"""The promotion rule: beat the best baseline and the champion by the margin, at every level."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from forecast_pipeline.ml import ENSEMBLE, GateRule, promotion_decision


def metrics(rows: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Overall backtest metrics (``cutoff`` NaN) from ``(model, level) -> wape``, plus one
    per-cutoff row that the rule must ignore."""
    frame = pd.DataFrame(
        [{"model": m, "level": lvl, "cutoff": pd.NaT, "wape": w} for (m, lvl), w in rows.items()]
    )
    noise = {"model": ENSEMBLE, "level": "product", "cutoff": pd.Timestamp("2026-01-05"), "wape": 9}
    return pd.concat([frame, pd.DataFrame([noise])], ignore_index=True)


CHALLENGER = metrics(
    {
        (ENSEMBLE, "product"): 0.40,
        ("seasonal_naive", "product"): 0.60,
        ("moving_average", "product"): 0.50,
        ("lightgbm", "product"): 0.38,  # a member beating the ensemble is not a baseline
        (ENSEMBLE, "category"): 0.20,
        ("seasonal_naive", "category"): 0.30,
        ("moving_average", "category"): 0.25,
    }
)


def champion(product: float, category: float) -> pd.DataFrame:
    return metrics({(ENSEMBLE, "product"): product, (ENSEMBLE, "category"): category})


def test_first_model_is_promoted_when_it_beats_the_best_baseline() -> None:
    decision = promotion_decision(CHALLENGER, None, GateRule(margin=0.01))
    assert decision.promote
    assert decision.reason.startswith("promoted")
    row = decision.comparison.set_index("level").loc["product"]
    assert row["baseline_model"] == "moving_average" and row["baseline"] == 0.50
    assert math.isnan(row["champion"])
    assert row["required"] == pytest.approx(0.495)


def test_challenger_worse_than_the_champion_stays_challenger_with_the_reason() -> None:
    decision = promotion_decision(
        CHALLENGER, champion(0.39, 0.21), GateRule(margin=0.01), champion_label="champion v3"
    )
    assert not decision.promote
    assert decision.reason == (
        "kept as challenger: product WAPE 0.4000 is not 1% better than champion v3 (0.3900)"
    )
    assert decision.comparison["passed"].tolist() == [False, True]


def test_the_margin_is_relative_and_inclusive() -> None:
    rule = GateRule(margin=0.05, levels=("category",))
    assert promotion_decision(CHALLENGER, champion(0.5, 0.20 / 0.95), rule).promote
    assert not promotion_decision(CHALLENGER, champion(0.5, 0.20 / 0.95 - 1e-6), rule).promote
    assert not promotion_decision(CHALLENGER, champion(0.5, 0.20), rule).promote  # a tie


def test_losing_to_a_baseline_blocks_even_without_a_champion() -> None:
    weak = CHALLENGER.copy()
    weak.loc[(weak["model"] == ENSEMBLE) & (weak["level"] == "category"), "wape"] = 0.26
    decision = promotion_decision(weak, None, GateRule())
    assert not decision.promote
    assert "category WAPE 0.2600 is not 1% better than moving_average (0.2500)" in decision.reason


def test_missing_figures_and_bad_rules_fail_loudly() -> None:
    with pytest.raises(ValueError, match="no wape at total level"):
        promotion_decision(CHALLENGER, None, GateRule(levels=("total",)))
    with pytest.raises(ValueError, match="none of the baselines"):
        promotion_decision(CHALLENGER, None, GateRule(baselines=("tsb",)))
    with pytest.raises(ValueError, match="metric must be one of"):
        GateRule(metric="r2")
    with pytest.raises(ValueError, match="margin"):
        GateRule(margin=1.5)
