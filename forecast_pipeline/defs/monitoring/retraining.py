"""The early retraining trigger: when error drift escalates, retrain that week before Monday.

``retrain_on_error_drift`` reads new evaluations of the ``error_drift`` check of
``monitoring/realised_accuracy`` and, for each one that failed with severity ERROR (an
escalation; WARN means the error merely left the backtest band), requests
``weekly_training_job`` for the evaluation's week, once per week (run key
``early-retrain-<week>``).

It is off twice over: the sensor is ``STOPPED`` until an operator starts it, and it requests
nothing unless the deployment's :class:`RetrainingPolicy` is ``enabled``. The sensor's state
lives in the instance (one click in the UI); the policy lives in code, reviewed with the
deployment, and also carries the spacing between early retrainings. Starting the sensor where
the policy is off only logs what it would have done. While the policy is off the cursor still
moves on, so enabling it never acts on past escalations.
"""

from datetime import date

import dagster as dg
from pydantic import Field

from forecast_pipeline.defs.forecasting.jobs import weekly_training_job
from forecast_pipeline.defs.monitoring.alerts import PARTITION_TAG, new_check_evaluations
from forecast_pipeline.defs.partitions import weekly

ERROR_DRIFT_CHECK = dg.AssetCheckKey(
    dg.AssetKey(["monitoring", "realised_accuracy"]), "error_drift"
)
TRIGGER_TAG = "forecast_pipeline/trigger"
TRIGGER = "error_drift"
ACTIVE_OR_DONE = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class RetrainingPolicy(dg.ConfigurableResource):
    """Whether escalated error drift may trigger an early weekly retraining, and how often."""

    enabled: bool = Field(default=False, description="Request early retrainings at all.")
    min_weeks_between: int = Field(
        default=1,
        ge=1,
        description=(
            "Early retrainings are at least this many weeks apart (1 = at most one per week)."
        ),
    )


def early_retraining(
    instance: dg.DagsterInstance, partition: str, policy: RetrainingPolicy
) -> dg.RunRequest | dg.SkipReason:
    """The early training run of week ``partition``, or why there is none: the week is not a
    complete weekly partition, a training run of it succeeded or is queued or running, or an
    early retraining of a week fewer than ``min_weeks_between`` weeks away was requested."""
    if not weekly.has_partition_key(partition):
        return dg.SkipReason(f"week {partition} is not a complete weekly partition")
    job = weekly_training_job.name
    trained = instance.get_runs(
        dg.RunsFilter(job_name=job, tags={PARTITION_TAG: partition}, statuses=ACTIVE_OR_DONE),
        limit=1,
    )
    if trained:
        return dg.SkipReason(
            f"week {partition} already has a training run ({trained[0].run_id}, "
            f"{trained[0].status.value})"
        )
    if policy.min_weeks_between > 1:
        week = date.fromisoformat(partition)
        for run in instance.get_runs(dg.RunsFilter(job_name=job, tags={TRIGGER_TAG: TRIGGER})):
            other = run.tags.get(PARTITION_TAG)
            apart = abs((week - date.fromisoformat(other)).days) // 7 if other else None
            if apart is not None and 0 < apart < policy.min_weeks_between:
                return dg.SkipReason(
                    f"week {partition}: an early retraining of week {other} ran {apart} week(s) "
                    f"away; the policy wants {policy.min_weeks_between}"
                )
    return dg.RunRequest(
        run_key=f"early-retrain-{partition}",
        partition_key=partition,
        tags={TRIGGER_TAG: TRIGGER},
    )


@dg.sensor(
    name="retrain_on_error_drift",
    job=weekly_training_job,
    default_status=dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description=(
        "Requests the weekly training of a week early when its error drift escalates (severity "
        "ERROR); only when the RetrainingPolicy resource is enabled."
    ),
)
def retrain_on_error_drift(
    context: dg.SensorEvaluationContext, retraining_policy: RetrainingPolicy
) -> dg.SensorResult:
    """One training run per week whose ``error_drift`` evaluation failed with severity ERROR,
    read from the event log after the cursor (a storage id). The first tick (no cursor) starts
    from the latest stored check evaluation and requests nothing."""
    records, cursor = new_check_evaluations(
        context.instance, context.cursor, check_keys={ERROR_DRIFT_CHECK}
    )
    if context.cursor is None:
        return dg.SensorResult(
            skip_reason=f"First tick: watching error drift after storage id {cursor}.",
            cursor=cursor,
        )
    escalated = [r for r in records if r.failed_severity == "ERROR"]
    weeks = list(dict.fromkeys(r.partition for r in escalated if r.partition))
    if not escalated:
        return dg.SensorResult(skip_reason="No escalated error drift.", cursor=cursor)
    if not retraining_policy.enabled:
        return dg.SensorResult(
            skip_reason=(
                f"Early retraining is disabled (RetrainingPolicy.enabled is false); error drift "
                f"escalated for week(s) {', '.join(weeks) or '(no partition)'}."
            ),
            cursor=cursor,
        )
    requests, skipped = [], []
    for week in weeks:
        decision = early_retraining(context.instance, week, retraining_policy)
        if isinstance(decision, dg.RunRequest):
            requests.append(decision)
        else:
            skipped.append(decision.skip_message or week)
    skipped += [f"run {r.run_id} has no partition" for r in escalated if not r.partition]
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(skipped), cursor=cursor)
    for reason in skipped:
        context.log.info("Not retraining early: %s", reason)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
