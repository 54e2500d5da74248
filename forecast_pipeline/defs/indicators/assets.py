"""Macro and market indicators stored in the warehouse, with a daily schedule."""

from datetime import UTC, datetime

import dagster as dg

from forecast_pipeline.defs.contracts import contract_metadata
from forecast_pipeline.defs.ingest.assets import sales_history
from forecast_pipeline.defs.resources import IndicatorSource, Lake, Warehouse
from forecast_pipeline.warehouse import indicators, sales

OWNERS = ["team:forecasting"]


@dg.asset(
    key_prefix="warehouse",
    group_name="warehouse",
    kinds={"postgres", "parquet"},
    owners=OWNERS,
    metadata=contract_metadata("indicator_observations"),
    deps=[dg.AssetDep(sales_history, partition_mapping=dg.AllPartitionMapping())],
    description=(
        "warehouse.indicator_observations: macro and market series, one row per (series_id, "
        "observation_date, published_date) with its source. Covers the sales history's dates; "
        "a snapshot of each fetch goes to the lake. The local deployment stores synthetic "
        "series (source 'synthetic')."
    ),
)
def indicator_observations(
    context: dg.AssetExecutionContext,
    indicator_source: IndicatorSource,
    lake: Lake,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        span = sales.sales_date_range(conn)
    if span is None:
        raise dg.Failure(description="the sales history is empty: no date range to cover")
    observations = indicator_source.observations(*span)
    fetched = datetime.now(UTC)
    snapshot_uri = lake.write_parquet(
        f"indicators/snapshots/fetched={fetched:%Y-%m-%dT%H%M%S}/observations.parquet",
        observations,
    )
    with warehouse.connect() as conn:
        changed = indicators.upsert_observations(conn, observations)
        latest = indicators.latest_per_series(conn)
    context.log.info(f"{changed} indicator observations inserted or revised")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(observations),
            "changed_rows": changed,
            "sources": ", ".join(sorted(observations["source"].unique())),
            "snapshot_uri": dg.MetadataValue.url(snapshot_uri),
            "latest_per_series": dg.MetadataValue.md(latest.to_markdown(index=False)),
        }
    )


indicators_job = dg.define_asset_job(
    "indicators_job", selection=dg.AssetSelection.assets(indicator_observations)
)
indicators_schedule = dg.ScheduleDefinition(
    job=indicators_job, cron_schedule="0 5 * * *", description="Refresh indicators daily at 05:00."
)
