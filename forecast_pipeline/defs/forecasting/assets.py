"""Weekly features and training: tuning, backtest and ensemble, one partition per origin.

Model code (mlforecast, LightGBM, Prophet, Optuna, MLflow) is imported inside the asset bodies,
so that loading the definitions stays light. Every asset reads its inputs from and writes its
outputs to the lake under the partition's week, so each can be re-run on its own. The training
assets record into one MLflow run per Dagster run and partition
(:meth:`~forecast_pipeline.defs.resources.MlflowTracking.training_run`).
"""

import json

import dagster as dg
import pandas as pd

from forecast_pipeline.defs.forecasting.config import ForecastConfig, TuningConfig
from forecast_pipeline.defs.forecasting.storage import (
    OWNERS,
    features_key,
    forecast_origin,
    load_inputs,
    load_tuned_params,
    model_key,
)
from forecast_pipeline.defs.ingest.assets import sales_history
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.defs.resources import Lake, MlflowTracking, Warehouse
from forecast_pipeline.warehouse import indicators, publishing, sales


def training_tags(context: dg.AssetExecutionContext, series: pd.DataFrame) -> dict[str, str]:
    """Tags of the partition's MLflow run: job, training window, forecast origin, code."""
    from forecast_pipeline.tracking import code_version

    return {
        "dagster.job": context.run.job_name,
        "training_window.start": str(series["ds"].min().date()),
        "training_window.end": str(series["ds"].max().date()),
        "forecast_origin": str(forecast_origin(context).date()),
        "code_version": code_version(),
    }


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
        "product's first sale; each product's category; weekly price, price relative to its "
        "recent high and promotion share; and the year-over-year change of each indicator as "
        "known at the start of each week (only values published by then). Parquet in the "
        "lake's features zone."
    ),
)
def weekly_sales(
    context: dg.AssetExecutionContext, lake: Lake, warehouse: Warehouse
) -> dg.MaterializeResult:
    from forecast_pipeline import ml

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
    partition = context.partition_key
    uri = lake.write_parquet(features_key(partition, "series"), series)
    lake.write_parquet(features_key(partition, "categories"), categories)
    prices = ml.period_prices(daily, series, "W-MON")
    if prices is not None:
        lake.write_parquet(features_key(partition, "prices"), prices)
    weeks = pd.date_range(series["ds"].min(), origin, freq="W-MON")
    changes = ml.indicator_yoy(observations, weeks, pd.DateOffset(weeks=52))
    if changes is not None:
        lake.write_parquet(features_key(partition, "indicators"), changes)
    at_origin = (
        changes[changes["ds"] == origin].drop(columns="ds").T
        if changes is not None
        else pd.DataFrame()
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(series),
            "series": int(series["unique_id"].nunique()),
            "first_week": str(series["ds"].min().date()),
            "last_week": str(series["ds"].max().date()),
            "forecast_origin": str(origin.date()),
            "price_features": prices is not None,
            "indicator_changes_at_origin": dg.MetadataValue.md(
                at_origin.to_markdown(headers=["yoy change"]) if not at_origin.empty else "none"
            ),
            "uri": dg.MetadataValue.url(uri),
        }
    )


@dg.asset(
    key_prefix="models",
    partitions_def=weekly,
    group_name="models",
    kinds={"optuna", "lightgbm"},
    owners=OWNERS,
    deps=[weekly_sales],
    description=(
        "Hyper-parameters of the global models from an Optuna search (seeded TPE sampler, "
        "median pruning after each backtest window) on a sample of the products, within the "
        "trial and time budget of TuningConfig. Trial 0 is the default parameters, so the "
        "result is never worse than them on the search's own windows. JSON in the lake."
    ),
)
def tuned_params(
    context: dg.AssetExecutionContext, config: TuningConfig, lake: Lake, mlflow: MlflowTracking
) -> dg.MaterializeResult:
    from forecast_pipeline import ml, tracking

    partition = context.partition_key
    series = lake.read_parquet(features_key(partition, "series"))
    inputs = load_inputs(lake, partition)
    results = {
        model: ml.tune(
            series,
            config.forecast.spec(),
            config.budget(),
            model,
            categories=inputs.categories,
            exog=inputs.exog,
        )
        for model in config.models
    }
    params = {name: result.params for name, result in results.items()}
    with mlflow.training_run(
        partition, context.run.run_id, training_tags(context, series)
    ) as run_id:
        tracking.log_tuning(results)
    uri = lake.write_bytes(
        model_key(partition, "tuned_params", "json"), json.dumps(params, indent=2).encode()
    )
    metadata: dict = {"uri": dg.MetadataValue.url(uri), "mlflow_run_id": run_id}
    for name, result in results.items():
        metadata[f"{name}_best_wape"] = result.best_wape
        metadata[f"{name}_default_wape"] = result.default_wape
        metadata[f"{name}_trials"] = dg.MetadataValue.md(result.trials.to_markdown(index=False))
        metadata[f"{name}_pruned"] = result.n_pruned
        metadata[f"{name}_seconds"] = round(result.seconds, 1)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key_prefix="models",
    partitions_def=weekly,
    group_name="models",
    kinds={"lightgbm", "xgboost", "prophet"},
    owners=OWNERS,
    deps=[weekly_sales, tuned_params],
    description=(
        "Rolling-origin backtest of every base model on the same cutoffs: baselines (seasonal "
        "naive, moving average, TSB), LightGBM and XGBoost across all products (tuned "
        "parameters), and AutoETS and Prophet on the category and total series, each scored at "
        "product, category and total level. Predictions as Parquet in the lake."
    ),
)
def backtest(
    context: dg.AssetExecutionContext, config: ForecastConfig, lake: Lake
) -> dg.MaterializeResult:
    from forecast_pipeline import ml
    from forecast_pipeline.defs.forecasting.plots import leaderboard_chart
    from forecast_pipeline.ml.metrics import score_predictions

    partition = context.partition_key
    series = lake.read_parquet(features_key(partition, "series"))
    inputs = load_inputs(lake, partition, load_tuned_params(lake, partition))
    spec = config.spec()
    result = ml.backtest(series, spec, inputs)
    uri = lake.write_parquet(model_key(partition, "backtest_predictions"), result.predictions)
    lake.write_parquet(model_key(partition, "history"), result.history)
    metrics = score_predictions(
        result.predictions, result.history, result.models, spec.season_length
    )
    overall = metrics[metrics["cutoff"].isna()].drop(columns="cutoff")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.predictions),
            "cutoffs": ", ".join(str(c.date()) for c in result.cutoffs),
            "models": ", ".join(result.models),
            "leaderboard": dg.MetadataValue.md(
                overall[["level", "model", "wape", "mase", "bias"]]
                .sort_values(["level", "wape"])
                .to_markdown(index=False, floatfmt=".4f")
            ),
            "leaderboard_chart": dg.MetadataValue.md(leaderboard_chart(metrics)),
            "uri": dg.MetadataValue.url(uri),
        }
    )


@dg.asset(
    key_prefix="models",
    partitions_def=weekly,
    group_name="models",
    kinds={"mlflow", "postgres"},
    owners=OWNERS,
    deps=[backtest],
    description=(
        "The ensemble learnt from the backtest: per-level convex weights minimising WAPE, "
        "cold-start fallback, reconciliation variances (middle-out by default) and conformal "
        "interval quantiles (per period and for the week/month/year totals). Scored honestly "
        "(each window forecast with weights fitted on the other windows) next to every base "
        "model; "
        "figures in forecasts.backtest_metrics and in the partition's MLflow run (metrics per "
        "model and level, leaderboards, weights, chart)."
    ),
)
def ensemble(
    context: dg.AssetExecutionContext,
    config: ForecastConfig,
    lake: Lake,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    from forecast_pipeline import ml, tracking
    from forecast_pipeline.defs.forecasting.plots import leaderboard_chart, leaderboard_figure

    partition = context.partition_key
    spec = config.spec()
    series = lake.read_parquet(features_key(partition, "series"))
    categories = lake.read_parquet(features_key(partition, "categories"))
    result = ml.BacktestResult(
        predictions=lake.read_parquet(model_key(partition, "backtest_predictions")),
        history=lake.read_parquet(model_key(partition, "history")),
    )
    evaluation = ml.evaluate(result, spec, categories)
    model = ml.fit_ensemble(result, spec, categories)
    for name, frame in (
        ("ensemble_weights", model.weights),
        ("ensemble_variances", model.variances),
        ("interval_quantiles_steps", model.calibration.steps),
        ("interval_quantiles_windows", model.calibration.windows),
        ("backtest_metrics", evaluation.metrics),
    ):
        lake.write_parquet(model_key(partition, name), frame)
    with mlflow.training_run(
        partition, context.run.run_id, training_tags(context, series)
    ) as run_id:
        tracking.log_backtest(spec, evaluation, model.weights)
        tracking.log_figure(leaderboard_figure(evaluation.metrics), "backtest/leaderboard.png")
    with warehouse.connect() as conn:
        publishing.replace_backtest_metrics(conn, partition, evaluation.metrics, run_id)
    board = {level: evaluation.leaderboard(level) for level in ml.LEVELS}
    ens = {level: frame[frame["model"] == ml.ENSEMBLE].iloc[0] for level, frame in board.items()}
    return dg.MaterializeResult(
        metadata={
            "mlflow_run_id": run_id,
            "weights": dg.MetadataValue.md(model.weights.to_markdown(index=False, floatfmt=".3f")),
            **{
                f"leaderboard_{level}": dg.MetadataValue.md(
                    frame[
                        ["model", "wape", "mase", "bias", "r2", "coverage_80", "coverage_95"]
                    ].to_markdown(index=False, floatfmt=".4f")
                )
                for level, frame in board.items()
            },
            "leaderboard_chart": dg.MetadataValue.md(leaderboard_chart(evaluation.metrics)),
            **{f"ensemble_wape_{level}": float(row["wape"]) for level, row in ens.items()},
            "coverage_80_product": float(ens["product"]["coverage_80"]),
            "coverage_95_product": float(ens["product"]["coverage_95"]),
        }
    )
