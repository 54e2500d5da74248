"""Running the asset graph in-process on a Dagster instance: what the demo and benchmarks do.

The steps are the ones the daemon would take: evaluate the landing-zone sensor, register the
upload partitions it asks for, run the ingest job per upload, refresh the indicators, run the
weekly training job for the latest complete week (its promotion gate may keep the challenger),
then the publish job, as the ``publish_after_*`` sensors would request it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import dagster as dg

from forecast_pipeline.defs.ingest.sensors import landing_zone_sensor
from forecast_pipeline.defs.partitions import sales_uploads, weekly
from forecast_pipeline.defs.resources import LandingZone


class PipelineRunFailed(RuntimeError):
    """A Dagster run launched by the runner did not succeed."""


@dataclass
class StageTimer:
    """Wall time per named stage, in the order the stages ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def discover_uploads(instance: dg.DagsterInstance, landing: LandingZone) -> None:
    """Evaluate the landing-zone sensor once and apply its partition requests, as the daemon
    would; the runs are launched by the caller for every upload not yet merged."""
    with dg.build_sensor_context(instance=instance, resources={"landing": landing}) as context:
        result = landing_zone_sensor(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def unmerged_uploads(instance: dg.DagsterInstance) -> list[str]:
    """Upload partitions whose rows have not reached the sales history (e.g. a crashed run)."""
    merged = instance.get_materialized_partitions(dg.AssetKey(["warehouse", "sales_history"]))
    return [
        upload
        for upload in instance.get_dynamic_partitions(sales_uploads.name)
        if upload not in merged
    ]


def execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    partition: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
    asset_selection: Sequence[dg.AssetKey] | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute ``job`` (or its ``asset_selection``) in process on ``instance`` for one
    partition, the console at ``log_level``; the result, successful or not."""
    config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}
    return job.execute_in_process(
        instance=instance,
        partition_key=partition,
        run_config=config,
        raise_on_error=False,
        asset_selection=asset_selection,
    )


def run_job(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    partition: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
) -> dg.ExecuteInProcessResult:
    """:func:`execute`, raising :class:`PipelineRunFailed` when the run fails."""
    result = execute(job, instance, partition, run_config, log_level)
    if not result.success:
        raise PipelineRunFailed(f"{job.name} failed (partition {partition}, run {result.run_id})")
    return result


def forecast_week_for(last_sale: date) -> str:
    """The weekly partition of the latest week (Monday to Sunday) complete by ``last_sale``."""
    week_start = last_sale - timedelta(days=(last_sale.weekday() + 1) % 7 + 6)
    key = week_start.isoformat()
    if key not in weekly.get_partition_keys():
        raise ValueError(f"no weekly partition {key}: the sales history ends on {last_sale}")
    return key


@dataclass(frozen=True)
class TrainingOutcome:
    """What the promotion gate decided for a weekly training run."""

    partition: str
    promoted: bool
    reason: str


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`run_pipeline` did."""

    ingested: list[str]
    week: str
    trainings: list[TrainingOutcome]


def train_week(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    week: str,
    run_config: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
) -> TrainingOutcome:
    """Run the weekly training job for ``week``. A run stopped by the promotion gate is a normal
    outcome (the challenger stays challenger); any other failure raises
    :class:`PipelineRunFailed`."""
    result = execute(
        defs.resolve_job_def("weekly_training_job"), instance, week, run_config, log_level
    )
    gate = [
        event.event_specific_data
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and event.event_specific_data.check_name == "promotion_gate"
    ]
    if result.success and gate:
        return TrainingOutcome(week, True, gate[-1].description or "promoted")
    failed_steps = {event.step_key for event in result.get_step_failure_events()}
    if gate and not gate[-1].passed and all(k.endswith("promotion_gate") for k in failed_steps):
        return TrainingOutcome(week, False, gate[-1].description or "kept as challenger")
    raise PipelineRunFailed(
        f"weekly_training_job failed (partition {week}, run {result.run_id}, "
        f"failed steps {sorted(failed_steps)})"
    )


def weekly_run_config(
    defs: dg.Definitions,
    forecast_config: Mapping[str, Any] | None = None,
    tuning_config: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Run config of the training job giving every op the same ``ForecastConfig`` overrides
    (and the tuning op its ``TuningConfig`` ones)."""
    if not forecast_config and not tuning_config:
        return None

    def op(*key: str) -> str:
        return defs.get_assets_def(dg.AssetKey(list(key))).node_def.name

    forecast = dict(forecast_config or {})
    return {
        "ops": {
            **{
                op(*key): {"config": forecast}
                for key in (
                    ("models", "backtest"),
                    ("models", "ensemble"),
                    ("models", "challenger"),
                )
            },
            op("models", "tuned_params"): {
                "config": {**dict(tuning_config or {}), "forecast": forecast}
            },
        }
    }


def run_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    landing: LandingZone,
    last_sale_date: Callable[[], date],
    timer: StageTimer | None = None,
    forecast_config: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
    tuning_config: Mapping[str, Any] | None = None,
    publish_config: Mapping[str, Any] | None = None,
    weeks: int = 1,
) -> PipelineResult:
    """Ingest whatever is new in the landing zone, refresh indicators, train, and publish the
    champion's forecasts.

    Uploads registered earlier whose rows never reached the sales history (a run that crashed)
    are ingested again too. ``weeks`` > 1 trains and publishes the preceding weeks first, in
    order (each challenger facing the champion of the week before), as the weekly schedule and
    the publish sensors would have; each publication also scores the earlier runs' forecasts
    of its week (realised accuracy).
    ``forecast_config`` overrides fields of the training's ``ForecastConfig`` (horizon,
    backtest windows, ...), ``tuning_config`` those of its ``TuningConfig`` (trials, seconds,
    ...) and ``publish_config`` those of the publishing's ``PublishConfig``; ``log_level`` is
    the console level of the runs' event logs (the instance stores every event whatever it
    is).
    """
    timer = timer or StageTimer()
    with timer.stage("sensor"):
        discover_uploads(instance, landing)
    ingest = defs.resolve_job_def("ingest_upload_job")
    ingested = unmerged_uploads(instance)
    with timer.stage("ingest (raw, validated, sales history)"):
        for upload in ingested:
            run_job(ingest, instance, upload, log_level=log_level)
    with timer.stage("indicators"):
        run_job(defs.resolve_job_def("indicators_job"), instance, log_level=log_level)
    week = forecast_week_for(last_sale_date())
    run_config = weekly_run_config(defs, forecast_config, tuning_config)
    keys = weekly.get_partition_keys()
    position = keys.index(week)
    publish_op = defs.get_assets_def(dg.AssetKey(["forecasts", "product_forecasts"])).node_def.name
    publish = {"ops": {publish_op: {"config": dict(publish_config)}}} if publish_config else None
    trainings = []
    for key in keys[max(0, position - weeks + 1) : position + 1]:
        with timer.stage("weekly training (features, tuning, backtest, ensemble, gate)"):
            trainings.append(train_week(defs, instance, key, run_config, log_level))
        with timer.stage("publish (champion forecasts, realised accuracy)"):
            run_job(defs.resolve_job_def("weekly_publish_job"), instance, key, publish, log_level)
    return PipelineResult(ingested=ingested, week=week, trainings=trainings)


def publish_week(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    week: str,
    run_config: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
) -> dict[str, dg.AssetCheckEvaluation]:
    """Publish ``week`` with the current champion without training: rebuild the week's
    features (with the input-drift check), then run the weekly publish job (forecasts, realised
    accuracy, error-drift check). ``run_config`` is given to both runs (e.g. resource config).
    Returns the check evaluations of the two runs by check name."""
    features = dg.AssetKey(["features", "weekly_sales"])
    training = defs.resolve_job_def("weekly_training_job")
    built = execute(training, instance, week, run_config, log_level, asset_selection=[features])
    if not built.success:
        raise PipelineRunFailed(f"features of week {week} failed (run {built.run_id})")
    published = run_job(
        defs.resolve_job_def("weekly_publish_job"), instance, week, run_config, log_level
    )
    return {
        event.event_specific_data.check_name: event.event_specific_data
        for result in (built, published)
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
