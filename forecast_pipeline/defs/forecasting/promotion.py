"""The trained model in the MLflow registry: challenger, promotion gate, champion.

* ``models/challenger`` trains the partition's forecaster (global models on all weeks plus the
  ensemble) and registers it as a new version of the registered model, alias ``challenger``.
* ``promotion_gate`` is a *blocking* check on it: the challenger must beat the naive baselines
  and the current champion on this partition's backtest windows by the configured margin. When
  it does not, the run stops before ``models/champion``, the decision and its reason are in the
  check result and in ``forecasts.model_promotions``, and the champion stays as it was.
* ``models/champion`` moves the ``champion`` alias to the challenger and records the promotion.

Publishing (:mod:`forecast_pipeline.defs.forecasting.publishing`) reads the champion alias only.
"""

import json
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from forecast_pipeline.defs.forecasting.assets import ensemble, training_tags, tuned_params
from forecast_pipeline.defs.forecasting.config import ForecastConfig
from forecast_pipeline.defs.forecasting.storage import (
    OWNERS,
    features_key,
    load_ensemble,
    load_inputs,
    load_tuned_params,
    model_key,
)
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.defs.resources import Lake, MlflowTracking, PromotionPolicy, Warehouse
from forecast_pipeline.warehouse import promotions

if TYPE_CHECKING:
    from forecast_pipeline.ml.promotion import GateDecision, GateRule

GATE_DECISION = "promotion_gate"
REGISTERED_VERSION = "registered_version"


def _read_json(lake: Lake, partition: str, name: str) -> dict:
    key = model_key(partition, name, "json")
    if not lake.exists(key):
        raise dg.Failure(description=f"{key} is missing: materialize models/challenger first")
    return json.loads(lake.read_bytes(key))


def _write_json(lake: Lake, partition: str, name: str, payload: dict) -> str:
    return lake.write_bytes(
        model_key(partition, name, "json"), json.dumps(payload, indent=2, default=str).encode()
    )


@dg.asset(
    key_prefix="models",
    partitions_def=weekly,
    group_name="models",
    kinds={"mlflow"},
    owners=OWNERS,
    deps=[ensemble, tuned_params],
    description=(
        "The partition's trained forecaster as one MLflow pyfunc model: LightGBM/XGBoost fitted "
        "on all weeks, the per-series models' configuration, the ensemble weights, "
        "reconciliation variances and interval calibration. Registered as a new version of the "
        "registered model with the alias 'challenger'; feature importances in the partition's "
        "MLflow run."
    ),
)
def challenger(
    context: dg.AssetExecutionContext, config: ForecastConfig, lake: Lake, mlflow: MlflowTracking
) -> dg.MaterializeResult:
    from forecast_pipeline import ml, tracking

    partition = context.partition_key
    series = lake.read_parquet(features_key(partition, "series"))
    inputs = load_inputs(lake, partition, load_tuned_params(lake, partition))
    forecaster = ml.train_forecaster(series, config.spec(), inputs, load_ensemble(lake, partition))
    tags = training_tags(context, series)
    with mlflow.training_run(partition, context.run.run_id, tags) as run_id:
        importances = (
            forecaster.global_models.feature_importances() if forecaster.global_models else None
        )
        if importances is not None:
            tracking.log_feature_importances(importances)
        info = tracking.log_forecaster(forecaster, registered_model_name=mlflow.registered_model)
    registry = mlflow.registry()
    version = int(info.registered_model_version)
    registry.set_tags(
        version,
        {"dagster.partition": partition, "dagster.run_id": context.run.run_id, **tags},
    )
    registry.mark_challenger(version)
    _write_json(
        lake,
        partition,
        REGISTERED_VERSION,
        {"model_name": registry.name, "version": version, "mlflow_run_id": run_id},
    )
    top = (
        importances.groupby("model").head(8).to_markdown(index=False, floatfmt=".3f")
        if importances is not None
        else "no global model"
    )
    return dg.MaterializeResult(
        metadata={
            "registered_model": registry.name,
            "version": version,
            "model_uri": f"models:/{registry.name}/{version}",
            "mlflow_run_id": run_id,
            "members": ", ".join(forecaster.members),
            "training_window": f"{forecaster.training_start.date()} to "
            f"{forecaster.training_end.date()}",
            "top_features": dg.MetadataValue.md(top),
        }
    )


@dg.asset_check(
    asset=challenger,
    blocking=True,
    description=(
        "Promotion gate: the challenger's ensemble must beat the best naive baseline and the "
        "current champion on this partition's backtest windows, at every gated level, by the "
        "PromotionPolicy margin. The champion's configuration and hyper-parameters are re-run "
        "on the same windows and scored the same way (ensemble weights fitted on the other "
        "windows). When it fails, models/champion is not materialized and the reason is "
        "recorded in forecasts.model_promotions."
    ),
)
def promotion_gate(
    context: dg.AssetCheckExecutionContext,
    lake: Lake,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
    promotion_policy: PromotionPolicy,
) -> dg.AssetCheckResult:
    from forecast_pipeline import ml

    partition = context.op_execution_context.partition_key
    registered = _read_json(lake, partition, REGISTERED_VERSION)
    version = int(registered["version"])
    registry = mlflow.registry()
    rule = promotion_policy.rule()
    challenger_metrics = lake.read_parquet(model_key(partition, "backtest_metrics"))
    current = registry.champion()
    champion_metrics = None
    champion_version = None
    if current is not None and current.version != version:
        champion_version = current.version
        mine = registry.load_forecaster(version)
        theirs = registry.load_forecaster(champion_version)
        reference = ml.BacktestResult(
            predictions=lake.read_parquet(model_key(partition, "backtest_predictions")),
            history=lake.read_parquet(model_key(partition, "history")),
        )
        inputs = load_inputs(lake, partition)
        series = lake.read_parquet(features_key(partition, "series"))
        rerun = ml.backtest_forecaster(
            theirs, reference, mine.spec, mine.params, series, inputs.categories, inputs.exog
        )
        champion_metrics = ml.evaluate(rerun, theirs.spec, inputs.categories).metrics
    decision = ml.promotion_decision(
        challenger_metrics, champion_metrics, rule, champion_label=f"champion v{champion_version}"
    )
    _write_json(
        lake,
        partition,
        GATE_DECISION,
        {
            "version": version,
            "promote": decision.promote,
            "reason": decision.reason,
            "champion_version": champion_version,
            "metric": rule.metric,
            "margin": rule.margin,
            "comparison": decision.comparison.to_dict(orient="records"),
        },
    )
    if not decision.promote:
        with warehouse.connect() as conn:
            promotions.record_promotion(
                conn,
                _promotion(
                    registered, partition, context.run.run_id, decision, rule, champion_version
                ),
            )
    context.log.info(decision.reason)
    return dg.AssetCheckResult(
        passed=decision.promote,
        severity=dg.AssetCheckSeverity.ERROR,
        description=decision.reason,
        metadata={
            "challenger_version": version,
            "champion_version": champion_version if champion_version is not None else "none",
            "metric": rule.metric,
            "margin": rule.margin,
            "comparison": dg.MetadataValue.md(
                decision.comparison.to_markdown(index=False, floatfmt=".4f")
            ),
        },
    )


def _promotion(
    registered: dict,
    partition: str,
    dagster_run_id: str,
    decision: "GateDecision",
    rule: "GateRule",
    previous_champion: int | None,
) -> promotions.Promotion:
    first = decision.comparison.iloc[0]
    return promotions.Promotion(
        model_name=registered["model_name"],
        version=int(registered["version"]),
        decision="promoted" if decision.promote else "kept_challenger",
        reason=decision.reason,
        decided_by="promotion_gate",
        partition_key=partition,
        previous_champion=previous_champion,
        metric=rule.metric,
        margin=rule.margin,
        challenger_value=float(first["challenger"]),
        champion_value=float(first["champion"]),
        baseline_model=str(first["baseline_model"]),
        baseline_value=float(first["baseline"]),
        comparison=decision.comparison.to_dict(orient="records"),
        mlflow_run_id=registered.get("mlflow_run_id"),
        dagster_run_id=dagster_run_id,
    )


@dg.asset(
    key_prefix="models",
    partitions_def=weekly,
    group_name="models",
    kinds={"mlflow", "postgres"},
    owners=OWNERS,
    deps=[challenger],
    description=(
        "The champion: the registered version publishing uses. Materialized only when the "
        "promotion gate passed: moves the 'champion' alias to the challenger and records the "
        "promotion (previous champion, figures, reason) in forecasts.model_promotions."
    ),
)
def champion(
    context: dg.AssetExecutionContext, lake: Lake, warehouse: Warehouse, mlflow: MlflowTracking
) -> dg.MaterializeResult:
    from forecast_pipeline import ml

    partition = context.partition_key
    registered = _read_json(lake, partition, REGISTERED_VERSION)
    gate = _read_json(lake, partition, GATE_DECISION)
    version = int(registered["version"])
    if gate["version"] != version or not gate["promote"]:
        raise dg.Failure(
            description=f"the promotion gate did not pass version {version}: {gate['reason']}"
        )
    registry = mlflow.registry()
    previous = registry.champion()
    decision = ml.GateDecision(True, gate["reason"], pd.DataFrame(gate["comparison"]))
    rule = ml.GateRule(metric=gate["metric"], margin=gate["margin"])
    # the history row commits only if the alias moved
    with warehouse.connect() as conn:
        promotions.record_promotion(
            conn,
            _promotion(
                registered,
                partition,
                context.run.run_id,
                decision,
                rule,
                previous.version if previous else None,
            ),
        )
        registry.promote(version)
    return dg.MaterializeResult(
        metadata={
            "registered_model": registry.name,
            "champion_version": version,
            "previous_champion": previous.version if previous else "none",
            "reason": gate["reason"],
        }
    )
