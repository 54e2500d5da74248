"""Publishing the champion's forecasts of a weekly partition to Postgres and the lake.

The forecasts come from the registered model version holding the ``champion`` alias only (see
:mod:`forecast_pipeline.defs.forecasting.promotion`); each published run records that version.
Publishing is its own job, run after every training (promoted or not) by the
``publish_after_training`` sensors, so fresh data is forecast even when the challenger lost.
"""

import uuid

import dagster as dg
import pandas as pd
from pydantic import Field

from forecast_pipeline import exports
from forecast_pipeline.defs import freshness
from forecast_pipeline.defs.contracts import contract_metadata
from forecast_pipeline.defs.forecasting.promotion import champion
from forecast_pipeline.defs.forecasting.storage import (
    OWNERS,
    features_key,
    forecast_key,
    forecast_origin,
    load_inputs,
)
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.defs.resources import Lake, MlflowTracking, Warehouse
from forecast_pipeline.warehouse import publishing, sales


class PublishConfig(dg.Config):
    """How the published rankings are built."""

    top_n: int = Field(default=10, description="Products ranked per category and period.")
    flat_threshold: float = Field(
        default=0.05, description="Relative change below which a trend is 'flat'."
    )


def _forecast_spec(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        ["forecasts", name],
        deps=[champion, ["features", "weekly_sales"]],
        group_name="forecasts",
        kinds={"postgres", "parquet"},
        owners=OWNERS,
        partitions_def=weekly,
        description=description,
        metadata=contract_metadata(name),
        freshness_policy=freshness.WEEKLY_PUBLICATION,
    )


@dg.multi_asset(
    specs=[
        _forecast_spec(
            "product_forecasts",
            "forecasts.product_forecasts: units per product and target week for the next 52 "
            "weeks from the champion model's reconciled ensemble, with conformal 80%/95% "
            "intervals and the cold-start flag. Category and total forecasts and the "
            "week/month/year window totals go to the lake. Grain: run_id, product_id, "
            "target_week.",
        ),
        _forecast_spec(
            "category_forecasts",
            "forecasts.category_forecasts: units per category and for the total per target "
            "week for the next 52 weeks, reconciled with the products, with 80%/95% intervals. "
            "Grain: run_id, level, category, target_week.",
        ),
        _forecast_spec(
            "category_outlook",
            "forecasts.category_outlook: per category and for the total, the units expected "
            "over the next week, month (4 weeks) and year (52 weeks) with intervals calibrated "
            "on backtest window totals, the change against the weeks just before and against "
            "the same weeks last year, and the trend. Grain: run_id, time_period, level, "
            "category.",
        ),
        _forecast_spec(
            "category_history",
            "forecasts.category_history: the weekly units per category and in total that the "
            "run was fitted on, shown next to its forecast (trend charts, the API's trends "
            "endpoint). Grain: run_id, level, category, week.",
        ),
        _forecast_spec(
            "top_products",
            "forecasts.top_products: per category, the top products for the next week, month "
            "(4 weeks) and year (52 weeks) with rank, predicted units and the 80% interval of "
            "the window total, predicted revenue at the last known price, the change against "
            "the weeks just before and the same weeks last year, trend, action (stock up / "
            "hold / reduce) and cold-start flag. Grain: run_id, time_period, category, rank.",
        ),
    ],
    partitions_def=weekly,
)
def published_forecasts(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    lake: Lake,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
):
    """Forecasts the partition's history with the champion, ranks, and publishes atomically."""
    from forecast_pipeline import ml
    from forecast_pipeline.defs.forecasting.plots import forecast_chart
    from forecast_pipeline.ml.reconciliation import aggregate_levels

    partition = context.partition_key
    registry = mlflow.registry()
    current = registry.champion()
    if current is None:
        raise dg.Failure(
            description=(
                f"registered model {registry.name!r} has no champion yet: no trained version "
                "has passed the promotion gate (see analytics.model_promotions)"
            )
        )
    forecaster = registry.load_forecaster(current.version)
    series = lake.read_parquet(features_key(partition, "series"))
    inputs = load_inputs(lake, partition)
    try:
        result = forecaster.forecast(series, inputs.categories, inputs.exog)
    except ValueError as error:
        raise dg.Failure(
            description=f"champion v{current.version} cannot forecast week {partition}: {error}"
        ) from error
    products_fcst = result.level("product")
    history = aggregate_levels(series, inputs.categories, ["y"])
    prices = inputs.exog.per_series
    top = ml.top_products(
        products_fcst,
        series,
        inputs.categories,
        windows=forecaster.spec.interval_windows,
        top_n=config.top_n,
        flat_threshold=config.flat_threshold,
        window_totals=result.windows[result.windows["level"] == "product"],
        prices=prices[["unique_id", "ds", "price"]] if prices is not None else None,
    )
    outlook = ml.category_outlook(
        result.windows,
        history,
        flat_threshold=config.flat_threshold,
        periods=forecaster.spec.interval_windows,
    )
    with warehouse.connect() as conn:
        products = sales.load_products(conn)
    tables = publishing.PublishedTables(
        product_forecasts=_product_forecast_rows(products_fcst, inputs.categories),
        top_products=top.merge(
            products[["product_id", "product_name"]], on="product_id", how="left"
        ),
        category_forecasts=_category_forecast_rows(result.steps),
        category_outlook=outlook,
        category_history=history[history["level"] != "product"].rename(
            columns={"unique_id": "category", "ds": "week", "y": "units"}
        ),
    )
    run = publishing.ForecastRun(
        run_id=uuid.uuid4().hex,
        partition_key=partition,
        origin=forecast_origin(context).date(),
        model_name=registry.name,
        model_version=str(current.version),
        mlflow_run_id=current.run_id,
        dagster_run_id=context.run.run_id,
        data_start=series["ds"].min().date(),
        data_end=series["ds"].max().date(),
        horizon_weeks=forecaster.spec.horizon,
        n_products=int(products_fcst["unique_id"].nunique()),
    )
    with warehouse.connect() as conn:  # its own transaction: creating a partition locks
        publishing.ensure_week_partition(conn, run.forecast_week)
    with warehouse.connect() as conn:
        superseded = publishing.publish_forecast_run(conn, run, tables)
    export_uris = exports.export_run(
        lake,
        partition,
        run.run_id,
        run.model_version,
        {
            "product_forecasts": tables.product_forecasts,
            "top_products": tables.top_products,
            "category_forecasts": tables.category_forecasts,
            "category_outlook": tables.category_outlook,
        },
    )
    with warehouse.connect(autocommit=True) as conn:
        retention = publishing.apply_retention(conn)
    lake.write_parquet(forecast_key(partition, "window_totals"), result.windows)
    categories_hist = history[history["level"] == "category"]
    largest = categories_hist.groupby("unique_id")["y"].sum().nlargest(3).index.astype(str).tolist()
    common = {
        "run_id": run.run_id,
        "champion_version": current.version,
        "superseded_runs": ", ".join(superseded) or "none",
    }
    yield dg.MaterializeResult(
        asset_key=["forecasts", "product_forecasts"],
        metadata={
            **common,
            "dagster/row_count": len(tables.product_forecasts),
            "registered_model": registry.name,
            "products": run.n_products,
            "cold_start_products": int(
                products_fcst.loc[products_fcst["cold_start"], "unique_id"].nunique()
            ),
            "largest_categories": dg.MetadataValue.md(
                forecast_chart(
                    categories_hist, result.steps[result.steps["level"] == "category"], largest
                )
            ),
            "dropped_partitions": ", ".join(retention.dropped_partitions) or "none",
            "deleted_runs": retention.deleted_runs,
            "export": dg.MetadataValue.url(export_uris["product_forecasts"]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["forecasts", "category_forecasts"],
        metadata={
            **common,
            "dagster/row_count": len(tables.category_forecasts),
            "export": dg.MetadataValue.url(export_uris["category_forecasts"]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["forecasts", "category_history"],
        metadata={**common, "dagster/row_count": len(tables.category_history)},
    )
    year = outlook[(outlook["time_period"] == "year") & (outlook["level"] == "category")]
    yield dg.MaterializeResult(
        asset_key=["forecasts", "category_outlook"],
        metadata={
            **common,
            "dagster/row_count": len(outlook),
            "next_year": dg.MetadataValue.md(
                year[
                    ["category", "predicted_units", "lower_80", "upper_80", "change_pct", "trend"]
                ].to_markdown(index=False, floatfmt=".3g")
            ),
            "export": dg.MetadataValue.url(export_uris["category_outlook"]),
        },
    )
    top_rows = tables.top_products
    week = top_rows[top_rows["time_period"] == "week"]
    yield dg.MaterializeResult(
        asset_key=["forecasts", "top_products"],
        metadata={
            "dagster/row_count": len(top_rows),
            "next_week_leaders": dg.MetadataValue.md(
                week[week["rank"] == 1][
                    ["category", "product_id", "predicted_units", "trend", "action"]
                ].to_markdown(index=False)
            ),
            **common,
            "export": dg.MetadataValue.url(export_uris["top_products"]),
        },
    )


# engine columns -> table columns of the per-week forecast tables
_WEEKLY_COLUMNS = {
    "ds": "target_week",
    "yhat": "units",
    "lo_80": "lower_80",
    "hi_80": "upper_80",
    "lo_95": "lower_95",
    "hi_95": "upper_95",
}


def _weekly_rows(frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    rows = frame.rename(columns={"unique_id": id_column, **_WEEKLY_COLUMNS})
    return rows.assign(target_week=pd.to_datetime(rows["target_week"]).dt.strftime("%Y-%m-%d"))


def _category_forecast_rows(steps: pd.DataFrame) -> pd.DataFrame:
    return _weekly_rows(steps[steps["level"] != "product"].drop(columns="cold_start"), "category")


def _product_forecast_rows(forecasts: pd.DataFrame, categories: pd.DataFrame) -> pd.DataFrame:
    rows = forecasts.drop(columns="level").merge(categories, on="unique_id", how="left")
    rows["category"] = rows["category"].fillna("unknown")
    return _weekly_rows(rows, "product_id")


top_products_view = dg.AssetSpec(
    ["analytics", "top_products"],
    deps=[["forecasts", "top_products"], ["forecasts", "product_forecasts"]],
    group_name="analytics",
    kinds={"postgres"},
    owners=OWNERS,
    description=(
        "Postgres view analytics.top_products (created by the warehouse migrations): the top "
        "products of the latest published run, readable by the forecast_reader role."
    ),
)
