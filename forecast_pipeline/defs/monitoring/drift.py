"""Input drift: the features of the latest weeks against the weeks the models learnt from.

The measured features are the product-week ones: log weekly units and the price features.
The indicators' year-over-year changes are left out: they are one value per week of slowly
trending series, so four recent weeks always sit apart from the year before (a PSI of 5 to 9
on the sample) without anything having gone wrong; ``indicators_are_fresh`` watches them.
"""

import dagster as dg
import numpy as np
import pandas as pd

from forecast_pipeline.defs.forecasting.assets import weekly_sales
from forecast_pipeline.defs.forecasting.storage import features_key
from forecast_pipeline.defs.monitoring.policy import MonitoringPolicy
from forecast_pipeline.defs.resources import Lake

# weekly units enter as log(1 + units): the PSI bins then follow the shape, not the scale
UNITS_FEATURE = "log_units"
PRICE_FEATURES = ("relative_price", "promo_share")


def feature_frame(lake: Lake, partition: str) -> pd.DataFrame:
    """The partition's product-week features: ``unique_id``, ``ds``, ``y``, ``log_units`` and
    the price features (when the partition has prices)."""
    series = lake.read_parquet(features_key(partition, "series"))
    frame = series.assign(**{UNITS_FEATURE: np.log1p(series["y"].clip(lower=0))})
    prices_key = features_key(partition, "prices")
    if lake.exists(prices_key):
        prices = lake.read_parquet(prices_key)
        keep = ["unique_id", "ds", *[c for c in PRICE_FEATURES if c in prices]]
        frame = frame.merge(prices[keep], on=["unique_id", "ds"], how="left")
    return frame


def drift_features(frame: pd.DataFrame) -> list[str]:
    """The columns of :func:`feature_frame` whose drift is measured."""
    return [c for c in (UNITS_FEATURE, *PRICE_FEATURES) if c in frame.columns]


@dg.asset_check(
    asset=weekly_sales,
    blocking=False,
    description=(
        "Input drift: population stability index of each product-week feature (log weekly "
        "units, relative price, promotion share) "
        "between the last MonitoringPolicy.drift_recent_weeks weeks and the "
        "drift_reference_weeks weeks before them (the training window). Warns at psi_warn, "
        "fails (ERROR) at psi_fail."
    ),
)
def input_drift(
    context: dg.AssetCheckExecutionContext, lake: Lake, monitoring_policy: MonitoringPolicy
) -> dg.AssetCheckResult:
    from forecast_pipeline.monitoring import drift

    policy = monitoring_policy
    partition = context.op_execution_context.partition_key
    frame = feature_frame(lake, partition)
    weeks = pd.DatetimeIndex(sorted(frame["ds"].unique()))
    current = weeks[-policy.drift_recent_weeks :]
    reference = weeks[: -policy.drift_recent_weeks][-policy.drift_reference_weeks :]
    if len(reference) < policy.drift_recent_weeks:
        return dg.AssetCheckResult(
            passed=True,
            description=f"only {len(weeks)} weeks of history: too few to measure drift",
        )
    table = drift.feature_psi(frame, drift_features(frame), reference, current)
    worst = table.iloc[0]
    verdict = drift.verdict(float(worst["psi"]), policy.psi_warn, policy.psi_fail)
    window = (
        f"weeks {current[0].date()}..{current[-1].date()} vs "
        f"{reference[0].date()}..{reference[-1].date()}"
    )
    description = (
        f"{verdict.value}: largest PSI {worst['psi']:.3f} on {worst['feature']} ({window}; "
        f"warn at {policy.psi_warn}, fail at {policy.psi_fail})"
    )
    context.log.info(description)
    return dg.AssetCheckResult(
        passed=verdict == drift.Verdict.OK,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if verdict == drift.Verdict.FAIL
            else dg.AssetCheckSeverity.WARN
        ),
        description=description,
        metadata={
            "verdict": verdict.value,
            "max_psi": round(float(worst["psi"]), 4),
            "max_psi_feature": str(worst["feature"]),
            **{
                f"psi_{row.feature}": round(float(row.psi), 4)
                for row in table.itertuples()
                if pd.notna(row.psi)
            },
            "features": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f")),
            "recent_weeks": f"{current[0].date()}..{current[-1].date()}",
            "reference_weeks": f"{reference[0].date()}..{reference[-1].date()}",
        },
    )
