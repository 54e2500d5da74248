"""Realised accuracy of the published forecasts, and the error-drift check on it.

``monitoring/realised_accuracy`` scores, for its weekly partition (the target week), every
published run that forecast that week, once the week is complete in the sales history; it runs
in the weekly publish job, after the week's own forecasts are published. Re-materialising a
partition (e.g. after late sales arrived) rescores the week.
"""

from datetime import date

import dagster as dg
import pandas as pd
import psycopg

from forecast_pipeline.defs.forecasting.storage import OWNERS
from forecast_pipeline.defs.ingest.assets import sales_history
from forecast_pipeline.defs.monitoring.policy import MonitoringPolicy
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.defs.resources import Warehouse
from forecast_pipeline.monitoring import accuracy as scoring
from forecast_pipeline.monitoring import drift
from forecast_pipeline.warehouse import accuracy

HORIZON_BUCKETS = ((1, 1), (2, 4), (5, 13), (14, 26), (27, 52))
# target weeks drawn in the accuracy chart
CHART_WEEKS = 52
PRODUCT_FORECASTS = dg.AssetKey(["forecasts", "product_forecasts"])


def _bucket(horizon: int) -> str:
    for low, high in HORIZON_BUCKETS:
        if low <= horizon <= high:
            return f"{low}" if low == high else f"{low}-{high}"
    return f">{HORIZON_BUCKETS[-1][1]}"


def _headline(components: pd.DataFrame) -> dict[str, float]:
    """Numeric metadata the UI plots across partitions: product and category WAPE, bias, MASE
    and 80% coverage at horizon 1 and over horizons 1-4."""
    out: dict[str, float] = {}
    for label, horizons in (("h1", (1, 1)), ("h1_4", (1, 4))):
        part = components[components["horizon"].between(*horizons)]
        if part.empty:
            continue
        metrics = scoring.metrics_from_components(part, ["level"]).set_index("level")
        for level in ("product", "category"):
            if level not in metrics.index:
                continue
            for metric in ("wape", "bias", "mase", "coverage_80"):
                value = metrics.at[level, metric]
                if pd.notna(value):
                    out[f"{metric}_{level}_{label}"] = round(float(value), 4)
    return out


def _by_category_and_horizon(components: pd.DataFrame) -> str:
    part = components[components["level"] == "product"]
    if part.empty:
        return "no product forecast of this week"
    part = part.assign(horizons=part["horizon"].map(_bucket))
    table = scoring.metrics_from_components(part, ["category", "horizons"])
    order = {_bucket(low): i for i, (low, _) in enumerate(HORIZON_BUCKETS)}
    table = table.sort_values(["category", "horizons"], key=lambda c: c.map(order).fillna(c))
    return table[
        ["category", "horizons", "wape", "bias", "mase", "coverage_80", "coverage_95", "n_series"]
    ].to_markdown(index=False, floatfmt=".3f")


def current_bands(
    conn: psycopg.Connection, week: date, policy: MonitoringPolicy
) -> tuple[str, dict[str, drift.ErrorBand]]:
    """The model of the latest run published before ``week`` (``name vN, trained on W``) and
    the error band of each level the policy checks (empty when its backtest is unknown)."""
    model = accuracy.latest_published_model(conn, week)
    if model is None:
        return "no published model", {}
    training_week, windows = accuracy.backtest_window_wapes(conn, model[0], int(model[1]))
    label = f"{model[0]} v{model[1]}, trained on {training_week or 'an unknown week'}"
    return label, {
        str(level): drift.error_band(part["wape"], policy.error_tolerance)
        for level, part in windows.groupby("level")
        if level in policy.error_levels
    }


@dg.asset(
    key=["monitoring", "realised_accuracy"],
    partitions_def=weekly,
    group_name="monitoring",
    kinds={"postgres"},
    owners=OWNERS,
    deps=[
        PRODUCT_FORECASTS,
        dg.AssetDep(sales_history, partition_mapping=dg.AllPartitionMapping()),
    ],
    description=(
        "forecasts.realised_accuracy: every published run's forecasts of the partition's week "
        "scored against the week's actual sales once the week is complete (per run, level, "
        "category and horizon: WAPE, bias, MASE and 80%/95% interval coverage, stored as "
        "additive components). Read by analytics.realised_accuracy and "
        "analytics.forecast_accuracy. Metadata: headline figures per week (plotted by the UI "
        "across partitions), a table per category and horizon, and a chart of the realised "
        "WAPE over the last 52 scored weeks with the error-drift limit."
    ),
)
def realised_accuracy(
    context: dg.AssetExecutionContext, warehouse: Warehouse, monitoring_policy: MonitoringPolicy
) -> dg.MaterializeResult:
    from forecast_pipeline.defs.monitoring.plots import accuracy_chart

    week = date.fromisoformat(context.partition_key)
    with warehouse.connect() as conn:
        complete = accuracy.last_complete_week(conn)
        if complete is None or complete < week:
            reason = (
                f"week {week} is not complete in the sales history (last complete week: "
                f"{complete}); nothing scored"
            )
            context.log.warning(reason)
            return dg.MaterializeResult(
                metadata={"target_week": str(week), "scored": False, "reason": reason}
            )
        components = accuracy.score_week(conn, week)
        rows = accuracy.replace_realised_accuracy(conn, week, components)
        scored = accuracy.load_realised_accuracy(conn, week, CHART_WEEKS)
        bands = current_bands(conn, week, monitoring_policy)[1]
    runs = components["run_id"].nunique() if rows else 0
    context.log.info(f"week {week}: {runs} published run(s) scored, {rows} rows")
    metadata: dict = {
        "target_week": str(week),
        "scored": True,
        "runs_scored": int(runs),
        "dagster/row_count": int(rows),
        **_headline(components),
        "by_category_and_horizon": dg.MetadataValue.md(_by_category_and_horizon(components)),
    }
    if not scored.empty:
        limits = {level: band.limit for level, band in bands.items()}
        metadata["accuracy_over_time"] = dg.MetadataValue.md(accuracy_chart(scored, limits))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=realised_accuracy,
    blocking=False,
    description=(
        "Error drift: the realised WAPE of the published forecasts over the last "
        "MonitoringPolicy.error_window_weeks target weeks, at each checked level, against the "
        "band of WAPEs of the current champion's backtest windows (widened by "
        "error_tolerance). Warns when the WAPE is above the band; fails (ERROR) when it is "
        "error_fail_ratio times the limit or above it for escalate_after_weeks scored weeks "
        "in a row."
    ),
)
def error_drift(
    context: dg.AssetCheckExecutionContext,
    warehouse: Warehouse,
    monitoring_policy: MonitoringPolicy,
) -> dg.AssetCheckResult:
    week = date.fromisoformat(context.op_execution_context.partition_key)
    policy = monitoring_policy
    lookback = policy.error_window_weeks + policy.escalate_after_weeks - 1
    with warehouse.connect() as conn:
        components = accuracy.load_realised_accuracy(conn, week, lookback)
        model, bands = current_bands(conn, week, policy)
    base = {"target_week": str(week)}
    if components.empty or not bands:
        reason = "nothing scored yet" if components.empty else f"{model} has no backtest band"
        return dg.AssetCheckResult(passed=True, description=reason, metadata=base)
    result = drift.assess_error_drift(
        components,
        bands,
        window_weeks=policy.error_window_weeks,
        escalate_after_weeks=policy.escalate_after_weeks,
        fail_ratio=policy.error_fail_ratio,
    )
    latest = result.weeks[result.weeks["target_week"] == pd.Timestamp(week)]
    metadata = {
        **base,
        "model": model,
        "verdict": result.verdict.value,
        **{
            f"{row.level}_{name}": round(float(getattr(row, name)), 4)
            for row in latest.itertuples()
            for name in ("realised_wape", "band_upper", "limit", "ratio")
        },
        "weeks": dg.MetadataValue.md(
            result.weeks.assign(target_week=result.weeks["target_week"].dt.date).to_markdown(
                index=False, floatfmt=".3f"
            )
        ),
    }
    context.log.info(result.description)
    return dg.AssetCheckResult(
        passed=result.verdict == drift.Verdict.OK,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if result.verdict == drift.Verdict.FAIL
            else dg.AssetCheckSeverity.WARN
        ),
        description=result.description,
        metadata=metadata,
    )
