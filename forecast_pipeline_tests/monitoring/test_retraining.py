"""The early retraining trigger: which escalations of error drift request which training run.

Check evaluations are real (a stand-in ``monitoring/realised_accuracy`` whose ``error_drift``
check fails as told), stored in a Dagster instance on Postgres; the sensor is evaluated as the
daemon evaluates it, inside Definitions holding the real ``weekly_training_job``, so Dagster
resolves each run request against that job and its weekly partitions.
"""

from collections.abc import Iterator

import dagster as dg
import pytest

from forecast_pipeline.defs.forecasting import assets as forecasting
from forecast_pipeline.defs.forecasting import promotion
from forecast_pipeline.defs.forecasting.jobs import weekly_training_job
from forecast_pipeline.defs.monitoring.retraining import (
    ERROR_DRIFT_CHECK,
    RetrainingPolicy,
    retrain_on_error_drift,
)
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.deployments import Deployment, resources_for
from forecast_pipeline.warehouse import databases

WEEK = "2026-11-09"
REALISED_ACCURACY = ERROR_DRIFT_CHECK.asset_key


class Outcome(dg.Config):
    error_drift: str = "PASS"  # PASS, WARN or ERROR
    input_drift: str = "PASS"


def _result(check_name: str, outcome: str) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.WARN if outcome == "WARN" else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(check_name=check_name, passed=outcome == "PASS", severity=severity)


@dg.asset(
    key=REALISED_ACCURACY,
    partitions_def=weekly,
    check_specs=[
        dg.AssetCheckSpec("error_drift", asset=REALISED_ACCURACY),
        dg.AssetCheckSpec("input_drift", asset=REALISED_ACCURACY),
    ],
)
def realised_accuracy(config: Outcome) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        check_results=[
            _result("error_drift", config.error_drift),
            _result("input_drift", config.input_drift),
        ]
    )


@dg.op
def fit() -> None:
    pass


@dg.job(name="weekly_training_job", partitions_def=weekly)
def training_stand_in() -> None:
    """A run under the training job's name (the real job fits models for minutes)."""
    fit()


@pytest.fixture
def instance(make_database) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance on a fresh Postgres database (dagster-postgres runs on psycopg2)."""
    url = databases.with_database(make_database("fp_dagster"), driver="psycopg2")
    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as inst:
        yield inst


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """The training job with its assets and resources, and the sensor."""
    return dg.Definitions(
        assets=[
            forecasting.weekly_sales,
            forecasting.tuned_params,
            forecasting.backtest,
            forecasting.ensemble,
            promotion.challenger,
            promotion.champion,
        ],
        asset_checks=[promotion.promotion_gate],
        jobs=[weekly_training_job],
        sensors=[retrain_on_error_drift],
        resources=resources_for(Deployment.LOCAL),
    )


def _drift(instance: dg.DagsterInstance, week: str, **outcome: str) -> None:
    result = dg.materialize(
        [realised_accuracy],
        instance=instance,
        partition_key=week,
        run_config=dg.RunConfig({"monitoring__realised_accuracy": Outcome(**outcome)}),
    )
    assert result.success


def _tick(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    policy: RetrainingPolicy,
    cursor: str | None,
):
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=defs,
        resources={"retraining_policy": policy},
    ) as context:
        return retrain_on_error_drift.evaluate_tick(context)


ENABLED = RetrainingPolicy(enabled=True)


def test_an_escalation_requests_the_training_of_its_week_once(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    first = _tick(defs, instance, ENABLED, None)
    assert first.run_requests == [] and "First tick" in first.skip_message
    _drift(instance, WEEK, error_drift="ERROR")

    second = _tick(defs, instance, ENABLED, first.cursor)

    (request,) = second.run_requests
    assert retrain_on_error_drift.job_name == "weekly_training_job"
    assert defs.resolve_job_def(retrain_on_error_drift.job_name).partitions_def == weekly
    assert request.partition_key == WEEK
    assert request.run_key == f"early-retrain-{WEEK}"
    assert request.tags["forecast_pipeline/trigger"] == "error_drift"
    assert request.tags["dagster/partition"] == WEEK  # resolved against the job's partitions
    assert int(second.cursor) > int(first.cursor)

    third = _tick(defs, instance, ENABLED, second.cursor)
    assert third.run_requests == [] and third.cursor == second.cursor


def test_warnings_and_other_checks_request_nothing(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    cursor = _tick(defs, instance, ENABLED, None).cursor
    _drift(instance, WEEK, error_drift="WARN", input_drift="ERROR")

    tick = _tick(defs, instance, ENABLED, cursor)

    assert tick.run_requests == []
    assert tick.skip_message == "No escalated error drift."
    assert int(tick.cursor) > int(cursor)


def test_a_disabled_policy_skips_and_moves_on(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    disabled = RetrainingPolicy()
    cursor = _tick(defs, instance, disabled, None).cursor
    _drift(instance, WEEK, error_drift="ERROR")

    tick = _tick(defs, instance, disabled, cursor)

    assert tick.run_requests == []
    assert "disabled" in tick.skip_message and WEEK in tick.skip_message
    # enabling the policy later does not act on this escalation
    assert _tick(defs, instance, ENABLED, tick.cursor).run_requests == []


def test_a_week_already_trained_is_skipped(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    trained = training_stand_in.execute_in_process(instance=instance, partition_key=WEEK)
    cursor = _tick(defs, instance, ENABLED, None).cursor
    _drift(instance, WEEK, error_drift="ERROR")

    tick = _tick(defs, instance, ENABLED, cursor)

    assert tick.run_requests == []
    assert tick.skip_message == (
        f"week {WEEK} already has a training run ({trained.run_id}, SUCCESS)"
    )


def test_early_retrainings_keep_the_policy_spacing(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> None:
    training_stand_in.execute_in_process(
        instance=instance,
        partition_key="2026-11-02",
        tags={"forecast_pipeline/trigger": "error_drift"},
    )
    cursor = _tick(defs, instance, ENABLED, None).cursor
    _drift(instance, WEEK, error_drift="ERROR")

    spaced = _tick(defs, instance, RetrainingPolicy(enabled=True, min_weeks_between=2), cursor)
    weekly_ok = _tick(defs, instance, ENABLED, cursor)

    assert spaced.run_requests == []
    assert "early retraining of week 2026-11-02 ran 1 week(s) away" in spaced.skip_message
    assert [r.partition_key for r in weekly_ok.run_requests] == [WEEK]
