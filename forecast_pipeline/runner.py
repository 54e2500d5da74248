"""Running the asset graph in-process on a Dagster instance: what the demo and benchmarks do.

The steps are the ones the daemon would take: evaluate the landing-zone sensor, register the
upload partitions it asks for, run the ingest job per upload, refresh the indicators, then run
the weekly forecast job for the latest complete week.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
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


def _execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    partition: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
) -> None:
    config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}
    result = job.execute_in_process(
        instance=instance, partition_key=partition, run_config=config, raise_on_error=False
    )
    if not result.success:
        raise PipelineRunFailed(f"{job.name} failed (partition {partition}, run {result.run_id})")


def forecast_week_for(last_sale: date) -> str:
    """The weekly partition of the latest week (Monday to Sunday) complete by ``last_sale``."""
    week_start = last_sale - timedelta(days=(last_sale.weekday() + 1) % 7 + 6)
    key = week_start.isoformat()
    if key not in weekly.get_partition_keys():
        raise ValueError(f"no weekly partition {key}: the sales history ends on {last_sale}")
    return key


def run_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    landing: LandingZone,
    last_sale_date: Callable[[], date],
    timer: StageTimer | None = None,
    forecast_config: Mapping[str, Any] | None = None,
    log_level: str = "DEBUG",
    tuning_config: Mapping[str, Any] | None = None,
) -> tuple[list[str], str]:
    """Ingest whatever is new in the landing zone, refresh indicators and publish forecasts.

    Uploads registered earlier whose rows never reached the sales history (a run that crashed)
    are ingested again too.
    ``forecast_config`` overrides fields of the weekly job's ``ForecastConfig`` (horizon,
    backtest windows, ...) and ``tuning_config`` those of its ``TuningConfig`` (trials,
    seconds, ...); ``log_level`` is the console level of the runs' event logs (the
    instance stores every event whatever it is). Returns the uploads ingested by this call and
    the weekly partition that was published.
    """
    timer = timer or StageTimer()
    with timer.stage("sensor"):
        discover_uploads(instance, landing)
    ingest = defs.resolve_job_def("ingest_upload_job")
    ingested = unmerged_uploads(instance)
    with timer.stage("ingest (raw, validated, sales history)"):
        for upload in ingested:
            _execute(ingest, instance, upload, log_level=log_level)
    with timer.stage("indicators"):
        _execute(defs.resolve_job_def("indicators_job"), instance, log_level=log_level)
    week = forecast_week_for(last_sale_date())
    forecast_job = defs.resolve_job_def("weekly_forecast_job")
    run_config = None
    if forecast_config or tuning_config:
        configured = (
            ["models", "backtest"],
            ["models", "ensemble"],
            ["forecasts", "product_forecasts"],
        )
        ops = {defs.get_assets_def(dg.AssetKey(key)).node_def.name for key in configured}
        forecast = dict(forecast_config or {})
        tuning_op = defs.get_assets_def(dg.AssetKey(["models", "tuned_params"])).node_def.name
        run_config = {
            "ops": {
                **{op: {"config": forecast} for op in ops},
                tuning_op: {"config": {**dict(tuning_config or {}), "forecast": forecast}},
            }
        }
    with timer.stage("weekly forecast (features, tuning, backtest, ensemble, publish)"):
        _execute(forecast_job, instance, week, run_config, log_level)
    return ingested, week
