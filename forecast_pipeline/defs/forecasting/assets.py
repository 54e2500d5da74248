"""Weekly features, backtests and published forecasts, one partition per forecast origin.

Model code (mlforecast, LightGBM, MLflow) is imported inside the asset bodies, so that loading
the definitions stays light.
"""

import dataclasses
import uuid
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from forecast_pipeline.defs.contracts import contract_metadata
from forecast_pipeline.defs.ingest.assets import sales_history
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.defs.resources import Lake, MlflowTracking, Warehouse
from forecast_pipeline.warehouse import indicators, publishing, sales

if TYPE_CHECKING:
    from forecast_pipeline.ml import ForecastSpec

OWNERS = ["team:forecasting"]


class ForecastConfig(dg.Config):
    """Budgets and knobs of the weekly forecast (typed, shown in the launchpad)."""

    horizon_weeks: int = 52
    backtest_windows: int = 3
    backtest_step_weeks: int = 4
    top_n: int = 10
    flat_threshold: float = 0.05
    num_threads: int = 2
    seed: int = 0

    def spec(self) -> "ForecastSpec":
        from forecast_pipeline.ml import ForecastSpec

        return dataclasses.replace(
            ForecastSpec(),
            horizon=self.horizon_weeks,
            n_windows=self.backtest_windows,
            step_size=self.backtest_step_weeks,
            num_threads=self.num_threads,
            seed=self.seed,
        )


def forecast_origin(context: dg.AssetExecutionContext) -> pd.Timestamp:
    """The Monday after the partition's week: forecasts start there, training data ends before."""
    return pd.Timestamp(context.partition_time_window.end.date())


def _features_key(partition: str, name: str) -> str:
    return f"features/weekly_sales/week={partition}/{name}.parquet"


def _backtest_key(partition: str, name: str) -> str:
    return f"models/backtest/week={partition}/{name}.parquet"


def _forecast_key(partition: str, name: str) -> str:
    return f"forecasts/week={partition}/{name}.parquet"


@dg.asset(
    key_prefix="features",
    partitions_def=weekly,
    group_name="features",
    kinds={"pandas", "parquet"},
    owners=OWNERS,
    deps=[
        dg.AssetDep(sales_history, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(["warehouse", "indicator_observations"]),
    ],
    description=(
        "Weekly units per product (unique_id = product_id, ds = Monday of the week, y = units "
        "summed over stores), every full week before the forecast origin, zero-filled from each "
        "product's first sale; each product's category; and the indicators as known on the "
        "origin (only values published on or before it). Parquet in the lake's features zone."
    ),
)
def weekly_sales(
    context: dg.AssetExecutionContext, lake: Lake, warehouse: Warehouse
) -> dg.MaterializeResult:
    from forecast_pipeline import ml
    from forecast_pipeline.indicators.point_in_time import indicator_features

    origin = forecast_origin(context)
    with warehouse.connect() as conn:
        daily = sales.load_daily_sales(conn, origin.date())
        observations = indicators.load_observations(conn)
    if daily.empty:
        raise dg.Failure(description=f"no sales history before {origin.date()}: nothing to learn")
    series = ml.weekly_series(daily, origin)
    categories = (
        daily.drop_duplicates("product_id")[["product_id", "category"]]
        .rename(columns={"product_id": "unique_id"})
        .reset_index(drop=True)
    )
    lake.write_parquet(_features_key(context.partition_key, "series"), series)
    as_of_origin = (
        indicator_features(observations, [origin])
        if not observations.empty
        else pd.DataFrame({"origin": [origin]})
    )
    lake.write_parquet(_features_key(context.partition_key, "indicators"), as_of_origin)
    uri = lake.write_parquet(_features_key(context.partition_key, "categories"), categories)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(series),
            "series": int(series["unique_id"].nunique()),
            "first_week": str(series["ds"].min().date()),
            "last_week": str(series["ds"].max().date()),
            "forecast_origin": str(origin.date()),
            "indicators_as_of_origin": dg.MetadataValue.md(
                as_of_origin.drop(columns="origin").T.to_markdown(headers=["value"])
            ),
            "uri": dg.MetadataValue.url(uri),
        }
    )


@dg.asset(
    key_prefix="models",
    partitions_def=weekly,
    group_name="models",
    kinds={"lightgbm", "mlflow", "postgres"},
    owners=OWNERS,
    deps=[weekly_sales],
    description=(
        "Rolling-origin backtest of the seasonal-naive baseline and the global LightGBM model on "
        "the same cutoffs, scored at product, category and total level (MAE, RMSE, WAPE, MASE, "
        "bias). Figures go to forecasts.backtest_metrics and to one MLflow run per partition."
    ),
)
def backtest(
    context: dg.AssetExecutionContext,
    config: ForecastConfig,
    lake: Lake,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    from forecast_pipeline import ml, tracking

    partition = context.partition_key
    series = lake.read_parquet(_features_key(partition, "series"))
    categories = lake.read_parquet(_features_key(partition, "categories"))
    spec = config.spec()
    result = ml.backtest(series, spec, categories)
    lake.write_parquet(_backtest_key(partition, "predictions"), result.predictions)
    lake.write_parquet(_backtest_key(partition, "metrics"), result.metrics)
    run_id = tracking.log_backtest_run(
        mlflow.activate(),
        run_name=f"weekly-{partition}",
        tags={
            "dagster.run_id": context.run.run_id,
            "dagster.partition": partition,
            "training_window.end": str(series["ds"].max().date()),
            "training_window.start": str(series["ds"].min().date()),
        },
        spec=spec,
        result=result,
    )
    with warehouse.connect() as conn:
        publishing.replace_backtest_metrics(conn, partition, result.metrics, run_id)
    leaderboard = result.leaderboard("product")
    return dg.MaterializeResult(
        metadata={
            "best_model": result.best_model("product"),
            "mlflow_run_id": run_id,
            "leaderboard_product": dg.MetadataValue.md(leaderboard.to_markdown(index=False)),
            "leaderboard_category": dg.MetadataValue.md(
                result.leaderboard("category").to_markdown(index=False)
            ),
            **{f"wape_{row.model}": float(row.wape) for row in leaderboard.itertuples(index=False)},
        }
    )


def _forecast_spec(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        ["forecasts", name],
        deps=[backtest],
        group_name="forecasts",
        kinds={"postgres", "parquet"},
        owners=OWNERS,
        partitions_def=weekly,
        description=description,
        metadata=contract_metadata(name),
    )


@dg.multi_asset(
    specs=[
        _forecast_spec(
            "product_forecasts",
            "forecasts.product_forecasts: units per product and target week for the next 52 "
            "weeks with conformal 80%/95% intervals, from the model with the lowest backtest "
            "WAPE. Grain: run_id, product_id, target_week.",
        ),
        _forecast_spec(
            "top_products",
            "forecasts.top_products: per category, the top products for the next week, month "
            "(4 weeks) and year (52 weeks) with rank, predicted units, the previous period's "
            "units, change and trend. Grain: run_id, time_period, category, rank.",
        ),
    ],
    partitions_def=weekly,
)
def published_forecasts(
    context: dg.AssetExecutionContext,
    config: ForecastConfig,
    lake: Lake,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
):
    """Fits the backtest's best model on all weeks, forecasts, ranks, and publishes atomically."""
    from forecast_pipeline import ml, tracking

    partition = context.partition_key
    series = lake.read_parquet(_features_key(partition, "series"))
    categories = lake.read_parquet(_features_key(partition, "categories"))
    result = ml.BacktestResult(
        predictions=lake.read_parquet(_backtest_key(partition, "predictions")),
        metrics=lake.read_parquet(_backtest_key(partition, "metrics")),
    )
    model = result.best_model("product")
    spec = config.spec()
    forecasts = ml.fit_forecast(series, spec, model, result)
    top = ml.top_products(
        forecasts, series, categories, top_n=config.top_n, flat_threshold=config.flat_threshold
    )
    with warehouse.connect() as conn:
        products = sales.load_products(conn)
        run_id_mlflow = publishing.backtest_mlflow_run(conn, partition)
    product_rows = _product_forecast_rows(forecasts, categories)
    top_rows = top.merge(products[["product_id", "product_name"]], on="product_id", how="left")
    run = publishing.ForecastRun(
        run_id=uuid.uuid4().hex,
        partition_key=partition,
        origin=forecast_origin(context).date(),
        model_name=model,
        model_version=f"{model}@{run_id_mlflow}" if run_id_mlflow else model,
        mlflow_run_id=run_id_mlflow,
        dagster_run_id=context.run.run_id,
        data_start=series["ds"].min().date(),
        data_end=series["ds"].max().date(),
        horizon_weeks=spec.horizon,
        n_products=int(forecasts["unique_id"].nunique()),
    )
    with warehouse.connect() as conn:
        publishing.publish_forecast_run(conn, run, product_rows, top_rows)
    forecast_uri = lake.write_parquet(_forecast_key(partition, "product_forecasts"), product_rows)
    top_uri = lake.write_parquet(_forecast_key(partition, "top_products"), top_rows)
    if run_id_mlflow:
        mlflow.activate()
        tracking.log_published_forecast(run_id_mlflow, model, forecasts)
    yield dg.MaterializeResult(
        asset_key=["forecasts", "product_forecasts"],
        metadata={
            "dagster/row_count": len(product_rows),
            "model": model,
            "model_version": run.model_version,
            "products": run.n_products,
            "uri": dg.MetadataValue.url(forecast_uri),
        },
    )
    week = top_rows[top_rows["time_period"] == "week"]
    yield dg.MaterializeResult(
        asset_key=["forecasts", "top_products"],
        metadata={
            "dagster/row_count": len(top_rows),
            "next_week_leaders": dg.MetadataValue.md(
                week[week["rank"] == 1][
                    ["category", "product_id", "predicted_units", "trend"]
                ].to_markdown(index=False)
            ),
            "uri": dg.MetadataValue.url(top_uri),
        },
    )


def _product_forecast_rows(forecasts: pd.DataFrame, categories: pd.DataFrame) -> pd.DataFrame:
    rows = forecasts.merge(categories, on="unique_id", how="left")
    return rows.rename(
        columns={
            "unique_id": "product_id",
            "ds": "target_week",
            "yhat": "units",
            "lo_80": "lower_80",
            "hi_80": "upper_80",
            "lo_95": "lower_95",
            "hi_95": "upper_95",
        }
    ).assign(target_week=lambda f: pd.to_datetime(f["target_week"]).dt.strftime("%Y-%m-%d"))


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


weekly_forecast_job = dg.define_asset_job(
    "weekly_forecast_job",
    selection=dg.AssetSelection.assets(weekly_sales, backtest, published_forecasts),
    partitions_def=weekly,
    description="Features, backtest, fit and publication for one weekly forecast origin.",
)
weekly_forecast_schedule = dg.build_schedule_from_partitioned_job(
    weekly_forecast_job,
    hour_of_day=6,
    description="Every Monday at 06:00, for the week just ended.",
)
