"""The weekly jobs, their schedule and the sensors that chain them.

* ``weekly_training_job``: features, tuning, backtest, ensemble, challenger (with the blocking
  promotion gate) and champion, for one weekly partition. Scheduled Mondays at 06:00 for the
  week just ended. When the gate rejects the challenger the run fails at the gate, on purpose:
  the champion is left as it was and the failure says why.
* ``weekly_publish_job``: the champion's forecasts of the partition, published atomically, and
  the realised accuracy of the week (earlier runs' forecasts of it scored, error drift checked).
* ``publish_after_training`` / ``publish_after_failed_training``: request the publish job for
  the partition whenever a training run ends, successful or not, as long as it produced the
  partition's features, so the week is always forecast with the champion.
"""

import dagster as dg

from forecast_pipeline.defs.forecasting.assets import backtest, ensemble, tuned_params, weekly_sales
from forecast_pipeline.defs.forecasting.promotion import challenger, champion
from forecast_pipeline.defs.forecasting.publishing import published_forecasts
from forecast_pipeline.defs.monitoring.accuracy import realised_accuracy
from forecast_pipeline.defs.partitions import weekly

FEATURES = dg.AssetKey(["features", "weekly_sales"])
TRAINING_RUN_TAG = "forecast_pipeline/run_kind"

weekly_training_job = dg.define_asset_job(
    "weekly_training_job",
    selection=dg.AssetSelection.assets(
        weekly_sales, tuned_params, backtest, ensemble, challenger, champion
    ),
    partitions_def=weekly,
    # the production instance allows one training run at a time on this tag (deploy/dagster.yaml);
    # on Kubernetes a training run's pod asks for more than the launcher's default requests
    tags={
        TRAINING_RUN_TAG: "training",
        "dagster-k8s/config": {
            "container_config": {
                "resources": {
                    "requests": {"cpu": "4", "memory": "8Gi"},
                    "limits": {"memory": "16Gi"},
                }
            }
        },
    },
    description=(
        "Features, tuning, backtest, ensemble and the registered challenger of one weekly "
        "forecast origin; promoted to champion only if the promotion gate passes."
    ),
)

weekly_publish_job = dg.define_asset_job(
    "weekly_publish_job",
    selection=dg.AssetSelection.assets(published_forecasts, realised_accuracy),
    partitions_def=weekly,
    description=(
        "The champion model's forecasts of one weekly origin, published atomically; then the "
        "realised accuracy of the earlier runs' forecasts of that week, with the error-drift "
        "check."
    ),
)

weekly_training_schedule = dg.build_schedule_from_partitioned_job(
    weekly_training_job,
    hour_of_day=6,
    description="Every Monday at 06:00, for the week just ended.",
)


def publish_request(
    instance: dg.DagsterInstance, run: dg.DagsterRun
) -> dg.RunRequest | dg.SkipReason:
    """The publish run for the partition of a finished training ``run`` (skipped when the
    run produced no features for it)."""
    partition = run.tags.get("dagster/partition")
    if partition is None:
        return dg.SkipReason(f"training run {run.run_id} has no partition")
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    keys = {
        r.event_log_entry.dagster_event.asset_key
        for r in records
        if r.event_log_entry.dagster_event
    }
    if FEATURES not in keys:
        return dg.SkipReason(
            f"training run {run.run_id} did not build the features of week {partition}"
        )
    return dg.RunRequest(
        run_key=f"publish-after-{run.run_id}",
        partition_key=partition,
        tags={"forecast_pipeline/training_run": run.run_id},
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[weekly_training_job],
    request_job=weekly_publish_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publishes the week with the (new) champion after a successful training run.",
)
def publish_after_training(context: dg.RunStatusSensorContext):
    return publish_request(context.instance, context.dagster_run)


@dg.run_failure_sensor(
    monitored_jobs=[weekly_training_job],
    request_job=weekly_publish_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Publishes the week with the current champion after a training run that failed, e.g. "
        "because the promotion gate kept the challenger."
    ),
)
def publish_after_failed_training(context: dg.RunFailureSensorContext):
    return publish_request(context.instance, context.dagster_run)
