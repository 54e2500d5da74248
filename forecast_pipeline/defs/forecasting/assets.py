"""Weekly features, backtests and published forecasts, one partition per forecast origin.

Model code (mlforecast, LightGBM, Prophet, Optuna, MLflow) is imported inside the asset bodies,
so that loading the definitions stays light. Every asset reads its inputs from and writes its
outputs to the lake under the partition's week, so each can be re-run on its own.
"""

import json
import uuid
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd
from pydantic import Field

from forecast_pipeline.defs.contracts import contract_metadata
from forecast_pipeline.defs.ingest.assets import sales_history
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.defs.resources import Lake, MlflowTracking, Warehouse
from forecast_pipeline.warehouse import indicators, publishing, sales

if TYPE_CHECKING:
    from forecast_pipeline.ml import EnsembleModel, ForecastSpec, ModelInputs, TuningBudget

OWNERS = ["team:forecasting"]


class ForecastConfig(dg.Config):
    """Budgets and knobs of the weekly forecast (typed, shown in the launchpad)."""

    horizon_weeks: int = 52
    backtest_windows: int = 3
    backtest_step_weeks: int = 4
    product_models: list[str] = Field(
        default=["seasonal_naive", "moving_average", "tsb", "lightgbm", "xgboost"],
        description="Models fitted on every product (baselines and the global GBMs).",
    )
    aggregate_models: list[str] = Field(
        default=["seasonal_naive", "auto_ets", "prophet"],
        description="Models fitted directly on the category and total series.",
    )
    country: str = Field(default="US", description="Public holidays used as features.")
    cold_start_weeks: int = Field(
        default=8, description="Products with less history get the category-based fallback."
    )
    top_n: int = 10
    flat_threshold: float = 0.05
    num_threads: int = 2
    seed: int = 0

    def spec(self) -> "ForecastSpec":
        from forecast_pipeline.ml import ForecastSpec

        return ForecastSpec(
            horizon=self.horizon_weeks,
            n_windows=self.backtest_windows,
            step_size=self.backtest_step_weeks,
            product_models=tuple(self.product_models),
            aggregate_models=tuple(self.aggregate_models),
            country=self.country,
            cold_start_steps=self.cold_start_weeks,
            num_threads=self.num_threads,
            seed=self.seed,
        )


class TuningConfig(dg.Config):
    """Optuna budget of the weekly hyper-parameter search (per tuned model)."""

    models: list[str] = Field(
        default=["lightgbm"], description="Global models to tune (lightgbm, xgboost)."
    )
    n_trials: int = Field(default=20, description="Largest number of trials per model.")
    timeout_seconds: float = Field(default=600.0, description="Wall-time budget per model.")
    max_series: int = Field(default=1000, description="Products sampled for the trials.")
    n_windows: int = Field(
        default=2, description="Latest backtest windows each trial runs (pruning steps)."
    )
    seed: int = 0
    forecast: ForecastConfig = Field(
        default_factory=ForecastConfig,
        description="The forecast settings the trials backtest with (keep them equal to the "
        "backtest's).",
    )

    def budget(self) -> "TuningBudget":
        from forecast_pipeline.ml import TuningBudget

        return TuningBudget(
            n_trials=self.n_trials,
            timeout_seconds=self.timeout_seconds,
            max_series=self.max_series,
            n_windows=self.n_windows,
            seed=self.seed,
        )


def forecast_origin(context: dg.AssetExecutionContext) -> pd.Timestamp:
    """The Monday after the partition's week: forecasts start there, training data ends before."""
    return pd.Timestamp(context.partition_time_window.end.date())


def _features_key(partition: str, name: str) -> str:
    return f"features/weekly_sales/week={partition}/{name}.parquet"


def _model_key(partition: str, name: str, ext: str = "parquet") -> str:
    return f"models/week={partition}/{name}.{ext}"


def _forecast_key(partition: str, name: str) -> str:
    return f"forecasts/week={partition}/{name}.parquet"


def _load_inputs(lake: Lake, partition: str, params: dict | None = None) -> "ModelInputs":
    from forecast_pipeline import ml

    prices_key = _features_key(partition, "prices")
    indicators_key = _features_key(partition, "indicators")
    return ml.ModelInputs(
        categories=lake.read_parquet(_features_key(partition, "categories")),
        exog=ml.Exogenous(
            per_series=lake.read_parquet(prices_key) if lake.exists(prices_key) else None,
            shared=lake.read_parquet(indicators_key) if lake.exists(indicators_key) else None,
        ),
        params=params or {},
    )


def _tuned_params(lake: Lake, partition: str) -> dict:
    key = _model_key(partition, "tuned_params", "json")
    return json.loads(lake.read_bytes(key)) if lake.exists(key) else {}


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
    uri = lake.write_parquet(_features_key(partition, "series"), series)
    lake.write_parquet(_features_key(partition, "categories"), categories)
    prices = ml.period_prices(daily, series, "W-MON")
    if prices is not None:
        lake.write_parquet(_features_key(partition, "prices"), prices)
    weeks = pd.date_range(series["ds"].min(), origin, freq="W-MON")
    changes = ml.indicator_yoy(observations, weeks, pd.DateOffset(weeks=52))
    if changes is not None:
        lake.write_parquet(_features_key(partition, "indicators"), changes)
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
    context: dg.AssetExecutionContext, config: TuningConfig, lake: Lake
) -> dg.MaterializeResult:
    from forecast_pipeline import ml

    partition = context.partition_key
    series = lake.read_parquet(_features_key(partition, "series"))
    inputs = _load_inputs(lake, partition)
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
    uri = lake.write_bytes(
        _model_key(partition, "tuned_params", "json"), json.dumps(params, indent=2).encode()
    )
    metadata: dict = {"uri": dg.MetadataValue.url(uri)}
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
    series = lake.read_parquet(_features_key(partition, "series"))
    inputs = _load_inputs(lake, partition, _tuned_params(lake, partition))
    spec = config.spec()
    result = ml.backtest(series, spec, inputs)
    uri = lake.write_parquet(_model_key(partition, "backtest_predictions"), result.predictions)
    lake.write_parquet(_model_key(partition, "history"), result.history)
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
        "figures in forecasts.backtest_metrics and one MLflow run per partition."
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
    from forecast_pipeline.defs.forecasting.plots import leaderboard_chart

    partition = context.partition_key
    spec = config.spec()
    series = lake.read_parquet(_features_key(partition, "series"))
    categories = lake.read_parquet(_features_key(partition, "categories"))
    result = ml.BacktestResult(
        predictions=lake.read_parquet(_model_key(partition, "backtest_predictions")),
        history=lake.read_parquet(_model_key(partition, "history")),
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
        lake.write_parquet(_model_key(partition, name), frame)
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
        evaluation=evaluation,
        weights=model.weights,
    )
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


def _load_ensemble(lake: Lake, partition: str) -> "EnsembleModel":
    from forecast_pipeline import ml
    from forecast_pipeline.ml.intervals import Calibration

    return ml.EnsembleModel(
        weights=lake.read_parquet(_model_key(partition, "ensemble_weights")),
        variances=lake.read_parquet(_model_key(partition, "ensemble_variances")),
        calibration=Calibration(
            steps=lake.read_parquet(_model_key(partition, "interval_quantiles_steps")),
            windows=lake.read_parquet(_model_key(partition, "interval_quantiles_windows")),
        ),
    )


def _forecast_spec(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        ["forecasts", name],
        deps=[ensemble],
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
            "weeks from the reconciled ensemble, with conformal 80%/95% intervals and the "
            "cold-start flag. Category and total forecasts and the week/month/year window "
            "totals go to the lake. Grain: run_id, product_id, target_week.",
        ),
        _forecast_spec(
            "top_products",
            "forecasts.top_products: per category, the top products for the next week, month "
            "(4 weeks) and year (52 weeks) with rank, predicted units and the 80% interval of "
            "the window total, the previous period's units, change and trend. Grain: run_id, "
            "time_period, category, rank.",
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
    """Fits every model on all weeks, combines them with the ensemble, ranks, and publishes
    atomically."""
    from forecast_pipeline import ml, tracking
    from forecast_pipeline.defs.forecasting.plots import forecast_chart

    partition = context.partition_key
    spec = config.spec()
    series = lake.read_parquet(_features_key(partition, "series"))
    inputs = _load_inputs(lake, partition, _tuned_params(lake, partition))
    model = _load_ensemble(lake, partition)
    result = ml.forecast(series, spec, inputs, model)
    products_fcst = result.level("product")
    product_windows = result.windows[result.windows["level"] == "product"]
    top = ml.top_products(
        products_fcst,
        series,
        inputs.categories,
        top_n=config.top_n,
        flat_threshold=config.flat_threshold,
        window_totals=product_windows,
    )
    with warehouse.connect() as conn:
        products = sales.load_products(conn)
        run_id_mlflow = publishing.backtest_mlflow_run(conn, partition)
    product_rows = _product_forecast_rows(products_fcst, inputs.categories)
    top_rows = top.merge(products[["product_id", "product_name"]], on="product_id", how="left")
    run = publishing.ForecastRun(
        run_id=uuid.uuid4().hex,
        partition_key=partition,
        origin=forecast_origin(context).date(),
        model_name=ml.ENSEMBLE,
        model_version=f"{ml.ENSEMBLE}@{run_id_mlflow}" if run_id_mlflow else ml.ENSEMBLE,
        mlflow_run_id=run_id_mlflow,
        dagster_run_id=context.run.run_id,
        data_start=series["ds"].min().date(),
        data_end=series["ds"].max().date(),
        horizon_weeks=spec.horizon,
        n_products=int(products_fcst["unique_id"].nunique()),
    )
    with warehouse.connect() as conn:
        publishing.publish_forecast_run(conn, run, product_rows, top_rows)
    forecast_uri = lake.write_parquet(_forecast_key(partition, "product_forecasts"), product_rows)
    top_uri = lake.write_parquet(_forecast_key(partition, "top_products"), top_rows)
    lake.write_parquet(
        _forecast_key(partition, "category_forecasts"),
        result.steps[result.steps["level"] != "product"].drop(columns="cold_start"),
    )
    lake.write_parquet(_forecast_key(partition, "window_totals"), result.windows)
    if run_id_mlflow:
        mlflow.activate()
        tracking.log_published_forecast(run_id_mlflow, ml.ENSEMBLE, products_fcst)
    history = lake.read_parquet(_model_key(partition, "history"))
    categories_hist = history[history["level"] == "category"]
    largest = categories_hist.groupby("unique_id")["y"].sum().nlargest(3).index.astype(str).tolist()
    yield dg.MaterializeResult(
        asset_key=["forecasts", "product_forecasts"],
        metadata={
            "dagster/row_count": len(product_rows),
            "model": ml.ENSEMBLE,
            "model_version": run.model_version,
            "products": run.n_products,
            "cold_start_products": int(
                products_fcst.loc[products_fcst["cold_start"], "unique_id"].nunique()
            ),
            "largest_categories": dg.MetadataValue.md(
                forecast_chart(
                    categories_hist, result.steps[result.steps["level"] == "category"], largest
                )
            ),
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
    rows = forecasts.drop(columns="level").merge(categories, on="unique_id", how="left")
    rows["category"] = rows["category"].fillna("unknown")
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
    selection=dg.AssetSelection.assets(
        weekly_sales, tuned_params, backtest, ensemble, published_forecasts
    ),
    partitions_def=weekly,
    description=(
        "Features, tuning, backtest, ensemble, fit and publication for one weekly forecast origin."
    ),
)
weekly_forecast_schedule = dg.build_schedule_from_partitioned_job(
    weekly_forecast_job,
    hour_of_day=6,
    description="Every Monday at 06:00, for the week just ended.",
)
