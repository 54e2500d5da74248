"""Macro and market indicators in the warehouse, degrading to the last good snapshot."""

import re
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd

from forecast_pipeline.defs import freshness
from forecast_pipeline.defs.contracts import contract_metadata
from forecast_pipeline.defs.indicators.resources import IndicatorSource
from forecast_pipeline.defs.ingest.assets import sales_history
from forecast_pipeline.defs.resources import Lake, Warehouse
from forecast_pipeline.warehouse import indicators, sales

OWNERS = ["team:forecasting"]
FRESHNESS_CHECK = "indicators_are_fresh"
HISTORY_BEFORE_SALES = timedelta(days=730)
REVISION_WINDOW = timedelta(days=400)  # refetched every day: revisions land in this window
# A series is stale when its newest publication is older than this (by frequency).
MAX_PUBLICATION_AGE = {"daily": 5, "monthly": 40, "quarterly": 100}


def _snapshot_key(series_id: str) -> str:
    return f"indicators/last_good/{re.sub(r'[^A-Za-z0-9_.-]', '_', series_id)}.parquet"


def _window_start(stored: pd.DataFrame, series_id: str, first_sale: date) -> date:
    """From two years before the sales, or, once a series is stored, its revision window."""
    known = stored[stored["series_id"] == series_id]
    if known.empty:
        return first_sale - HISTORY_BEFORE_SALES
    return pd.Timestamp(known["last_observation"].iloc[0]).date() - REVISION_WINDOW


@dg.asset(
    key_prefix="warehouse",
    group_name="warehouse",
    kinds={"postgres", "parquet"},
    owners=OWNERS,
    metadata=contract_metadata("indicator_observations"),
    deps=[dg.AssetDep(sales_history, partition_mapping=dg.AllPartitionMapping())],
    freshness_policy=freshness.INDICATORS,
    check_specs=[
        dg.AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=dg.AssetKey(["warehouse", "indicator_observations"]),
            description=(
                "Warns when a series could not be fetched (its last good snapshot was used) or "
                "its newest publication is older than 5 days (daily), 40 days (monthly) or "
                "100 days (quarterly)."
            ),
        )
    ],
    description=(
        "warehouse.indicator_observations: macro (FRED) and market (Yahoo Finance) series, one "
        "row per (series_id, observation_date, published_date). Each day every series is "
        "refetched over its revision window and only new or revised values are written; each "
        "good fetch is kept in the lake as the series' last good snapshot. A series whose "
        "source fails after its retries falls back to that snapshot and is marked stale; the "
        "run goes on. The local deployment stores synthetic series (source 'synthetic')."
    ),
)
def indicator_observations(
    context: dg.AssetExecutionContext,
    indicator_source: IndicatorSource,
    lake: Lake,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    from forecast_pipeline.indicators import IndicatorSourceError

    today = datetime.now(UTC).date()
    with warehouse.connect() as conn:
        span = sales.sales_date_range(conn)
        stored = indicators.latest_per_series(conn)
    if span is None:
        raise dg.Failure(description="the sales history is empty: no date range to cover")
    fetched: list[pd.DataFrame] = []
    stale: dict[str, str] = {}
    for series_id in indicator_source.series_ids():
        start = _window_start(stored, series_id, span[0])
        try:
            frame = indicator_source.fetch(series_id, start, today)
            lake.write_parquet(_snapshot_key(series_id), frame)
        except IndicatorSourceError as error:
            stale[series_id] = str(error)
            context.log.warning(f"{series_id}: {error}; using its last good snapshot")
            if not lake.exists(_snapshot_key(series_id)):
                continue
            frame = lake.read_parquet(_snapshot_key(series_id))
        fetched.append(frame)
    observations = pd.concat(fetched, ignore_index=True) if fetched else pd.DataFrame()
    changed = 0
    if not observations.empty:
        with warehouse.connect() as conn:
            changed = indicators.upsert_observations(conn, observations)
    with warehouse.connect() as conn:
        latest = indicators.latest_per_series(conn)
    freshness = _freshness(latest, today, stale)
    failing = freshness[~freshness["fresh"]]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(observations),
            "changed_rows": changed,
            "stale_series": ", ".join(sorted(stale)) or "none",
            "latest_per_series": dg.MetadataValue.md(freshness.to_markdown(index=False)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=FRESHNESS_CHECK,
                passed=failing.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "stale_or_old": ", ".join(failing["series_id"]) or "none",
                    "fetch_failures": dg.MetadataValue.json(stale),
                },
            )
        ],
    )


def _freshness(latest: pd.DataFrame, today: date, stale: dict[str, str]) -> pd.DataFrame:
    """Per stored series: the age of its newest publication and whether it is fresh."""
    if latest.empty:
        return pd.DataFrame(columns=["series_id", "source", "age_days", "fetched", "fresh"])
    age = (pd.Timestamp(today) - pd.to_datetime(latest["last_published"])).dt.days
    limit = latest["frequency"].map(MAX_PUBLICATION_AGE).fillna(MAX_PUBLICATION_AGE["monthly"])
    frame = latest.assign(age_days=age, fetched=~latest["series_id"].isin(list(stale)))
    frame["fresh"] = frame["fetched"] & (frame["age_days"] <= limit)
    missing = [s for s in stale if s not in set(latest["series_id"])]
    if missing:  # failed and never stored: nothing to fall back to
        extra = pd.DataFrame({"series_id": missing, "fetched": False, "fresh": False})
        frame = pd.concat([frame, extra], ignore_index=True)
    return frame


indicators_job = dg.define_asset_job(
    "indicators_job", selection=dg.AssetSelection.assets(indicator_observations)
)
indicators_schedule = dg.ScheduleDefinition(
    job=indicators_job, cron_schedule="0 5 * * *", description="Refresh indicators daily at 05:00."
)
