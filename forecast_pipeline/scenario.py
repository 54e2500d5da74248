"""A generated drift scenario: a champion trained on normal weeks keeps publishing while sales
shift abruptly, and the monitoring checks say when.

The sample's sales up to ``trained_week`` land as one file; the champion is trained and
published for that week. Each following week lands as its own file and is published with the
same champion (no retraining), as :func:`forecast_pipeline.runner.publish_week` does: features
with the input-drift check, forecasts, realised accuracy with the error-drift check. From
``shift_week`` on, every day's units are multiplied by ``factor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from forecast_pipeline.defs.resources import LandingZone
from forecast_pipeline.runner import (
    discover_uploads,
    publish_week,
    run_job,
    train_week,
    unmerged_uploads,
    weekly_run_config,
)
from forecast_pipeline.sample import SampleConfig
from forecast_pipeline.sample.sales import generate_daily_sales
from forecast_pipeline.sample.shift import shift_demand
from forecast_pipeline.sample.uploads import sales_to_csv_bytes


@dataclass(frozen=True)
class ShiftScenario:
    """The sample, the week the champion is trained on, and the shift."""

    sample: SampleConfig
    trained_week: date
    shift_week: date
    factor: float
    weeks_after: int

    def weeks(self) -> list[date]:
        """The weeks published after the training week, in order."""
        return [self.trained_week + timedelta(weeks=k) for k in range(1, self.weeks_after + 1)]


@dataclass(frozen=True)
class CheckOutcome:
    """One check evaluation as a data engineer reads it in the UI."""

    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, evaluation: dg.AssetCheckEvaluation) -> CheckOutcome:
        return cls(
            passed=evaluation.passed,
            severity=evaluation.severity.value,
            description=evaluation.description or "",
            metadata={k: v.value for k, v in evaluation.metadata.items()},
        )

    @property
    def failed(self) -> bool:
        """Failed with ERROR severity (escalated)."""
        return not self.passed and self.severity == "ERROR"


@dataclass
class ScenarioResult:
    """The training outcome and each published week's check outcomes."""

    trained: str
    input_drift: dict[str, CheckOutcome] = field(default_factory=dict)
    error_drift: dict[str, CheckOutcome] = field(default_factory=dict)


def _land(landing_dir: Path, name: str, rows: pd.DataFrame) -> None:
    landing_dir.mkdir(parents=True, exist_ok=True)
    (landing_dir / name).write_bytes(sales_to_csv_bytes(rows))


def _ingest(defs: dg.Definitions, instance: dg.DagsterInstance, landing: LandingZone) -> None:
    discover_uploads(instance, landing)
    for upload in unmerged_uploads(instance):
        run_job(defs.resolve_job_def("ingest_upload_job"), instance, upload, log_level="INFO")


def run_shift_scenario(
    scenario: ShiftScenario,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    landing: LandingZone,
    landing_dir: Path,
    *,
    forecast_config: Mapping[str, Any] | None = None,
    tuning_config: Mapping[str, Any] | None = None,
    monitoring_policy: Mapping[str, Any] | None = None,
) -> ScenarioResult:
    """Run the scenario on ``defs`` (the local deployment, whose landing zone is
    ``landing_dir``) and return what the checks said each week. ``monitoring_policy``
    overrides fields of the ``monitoring_policy`` resource."""
    sales = shift_demand(
        generate_daily_sales(scenario.sample), scenario.shift_week, scenario.factor
    )
    week_end = pd.Timestamp(scenario.trained_week + timedelta(days=7))
    _land(landing_dir, "sales_history.csv", sales[sales["date"] < week_end])
    _ingest(defs, instance, landing)
    run_job(defs.resolve_job_def("indicators_job"), instance, log_level="INFO")
    trained = train_week(
        defs,
        instance,
        str(scenario.trained_week),
        weekly_run_config(defs, forecast_config, tuning_config),
        log_level="INFO",
    )
    resources = (
        {"resources": {"monitoring_policy": {"config": dict(monitoring_policy)}}}
        if monitoring_policy
        else None
    )
    run_job(
        defs.resolve_job_def("weekly_publish_job"),
        instance,
        str(scenario.trained_week),
        resources,
        log_level="INFO",
    )
    result = ScenarioResult(trained=trained.reason)
    for week in scenario.weeks():
        start = pd.Timestamp(week)
        rows = sales[(sales["date"] >= start) & (sales["date"] < start + pd.Timedelta(days=7))]
        _land(landing_dir, f"sales_week_{week}.csv", rows)
        _ingest(defs, instance, landing)
        checks = publish_week(defs, instance, str(week), resources, log_level="INFO")
        result.input_drift[str(week)] = CheckOutcome.of(checks["input_drift"])
        result.error_drift[str(week)] = CheckOutcome.of(checks["error_drift"])
    return result
