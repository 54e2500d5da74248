"""The promotion rule: when a newly trained ensemble may replace the champion.

A challenger is promoted only if, on the same backtest windows and at every gated level, its
error is lower than the best naive baseline's *and* the current champion's by at least a
relative margin. The rule is pure: it reads metric frames and returns a decision with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from forecast_pipeline.ml.ensemble import ENSEMBLE

__all__ = ["LOWER_IS_BETTER", "GateDecision", "GateRule", "promotion_decision"]

LOWER_IS_BETTER = ("wape", "mae", "rmse", "mase")


@dataclass(frozen=True)
class GateRule:
    """What the challenger must beat, where and by how much.

    Attributes:
        levels: levels that must all pass (``product``, ``category``, ``total``).
        metric: the error metric compared (lower is better).
        margin: relative improvement required, e.g. 0.01: at most 99% of the other's error.
        baselines: the naive models the challenger must beat.
    """

    levels: tuple[str, ...] = ("product", "category")
    metric: str = "wape"
    margin: float = 0.01
    baselines: tuple[str, ...] = ("seasonal_naive", "moving_average")

    def __post_init__(self) -> None:
        if self.metric not in LOWER_IS_BETTER:
            raise ValueError(f"metric must be one of {LOWER_IS_BETTER}, got {self.metric!r}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {self.margin}")
        if not self.levels:
            raise ValueError("at least one level must be gated")


@dataclass(frozen=True)
class GateDecision:
    """The verdict of :func:`promotion_decision`.

    Attributes:
        promote: whether the challenger becomes champion.
        reason: one sentence a person can read in the UI or the history table.
        comparison: per level: ``level``, ``challenger``, ``baseline_model``, ``baseline``,
            ``champion`` (NaN without a champion), ``required`` (the largest error that
            passes) and ``passed``.
    """

    promote: bool
    reason: str
    comparison: pd.DataFrame


def _overall(metrics: pd.DataFrame) -> pd.DataFrame:
    if "cutoff" in metrics.columns:
        return metrics[metrics["cutoff"].isna()]
    return metrics


def promotion_decision(
    challenger: pd.DataFrame,
    champion: pd.DataFrame | None,
    rule: GateRule,
    champion_label: str = "the champion",
) -> GateDecision:
    """Decide whether the challenger's ensemble replaces the champion.

    Args:
        challenger: backtest metrics (``model``, ``level``, ``cutoff``, metrics) of the
            challenger's ensemble and the base models, including the baselines.
        champion: metrics of the champion's ensemble on the same windows, or ``None`` when
            there is no champion yet.
        rule: the gate's levels, metric, margin and baselines.
        champion_label: how the reason names the champion (e.g. ``"champion v3"``).
    """
    metric, factor = rule.metric, 1.0 - rule.margin
    ours = _overall(challenger)
    theirs = _overall(champion) if champion is not None else None
    rows = []
    for level in rule.levels:
        at_level = ours[ours["level"] == level]
        mine = at_level.loc[at_level["model"] == ENSEMBLE, metric]
        if mine.empty or not math.isfinite(float(mine.iloc[0])):
            raise ValueError(f"the challenger has no {metric} at {level} level")
        base = at_level[at_level["model"].isin(rule.baselines)].dropna(subset=[metric])
        if base.empty:
            raise ValueError(f"none of the baselines {list(rule.baselines)} at {level} level")
        best = base.loc[base[metric].idxmin()]
        champ = math.nan
        if theirs is not None:
            found = theirs.loc[(theirs["level"] == level) & (theirs["model"] == ENSEMBLE), metric]
            champ = float(found.iloc[0]) if len(found) else math.nan
        required = factor * min(float(best[metric]), champ if math.isfinite(champ) else math.inf)
        rows.append(
            {
                "level": level,
                "challenger": float(mine.iloc[0]),
                "baseline_model": str(best["model"]),
                "baseline": float(best[metric]),
                "champion": champ,
                "required": required,
                "passed": float(mine.iloc[0]) <= required,
            }
        )
    comparison = pd.DataFrame(rows)
    pct = (
        f"{rule.margin:.0%}"
        if rule.margin * 100 == round(rule.margin * 100)
        else f"{rule.margin:.1%}"
    )
    failed = comparison[~comparison["passed"]]
    if failed.empty:
        parts = [
            f"{r.level} {metric.upper()} {r.challenger:.4f} vs {r.baseline_model} {r.baseline:.4f}"
            + (f" and {champion_label} {r.champion:.4f}" if math.isfinite(r.champion) else "")
            for r in comparison.itertuples()
        ]
        return GateDecision(
            True, f"promoted: beats by at least {pct}: " + "; ".join(parts), comparison
        )
    reasons = []
    for r in failed.itertuples():
        lost_to = []
        if r.challenger > factor * r.baseline:
            lost_to.append(f"{r.baseline_model} ({r.baseline:.4f})")
        if math.isfinite(r.champion) and r.challenger > factor * r.champion:
            lost_to.append(f"{champion_label} ({r.champion:.4f})")
        reasons.append(
            f"{r.level} {metric.upper()} {r.challenger:.4f} is not {pct} better than "
            + " and ".join(lost_to)
        )
    return GateDecision(False, "kept as challenger: " + "; ".join(reasons), comparison)
