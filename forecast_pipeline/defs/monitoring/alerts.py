"""Alerts to a Slack-compatible webhook: failed runs and failed asset checks.

* :class:`AlertWebhook`: the webhook (its URL is a secret, set through ``dg.EnvVar``), the UI's
  base URL for links, a timeout and the lowest check severity worth a message.
* ``alert_on_run_failure``: one message per failed run of any job of this code location.
* ``alert_on_check_failure``: one message per failed asset check evaluation at or above the
  webhook's ``min_check_severity``.
* :func:`new_check_evaluations`: the asset check evaluations stored after a cursor, shared with
  the retraining trigger (``retraining.py``).

Both sensors are ``STOPPED`` until an operator starts them, so a deployment without a webhook
posts nothing. The cursors are event-log storage ids, global in the Postgres event log that
both deployments configure (``dagster.yaml``); Dagster's default run-sharded SQLite storage
refuses such cursors.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import dagster as dg
from pydantic import Field, field_validator

from forecast_pipeline.alerts import (
    Alert,
    AlertDeliveryError,
    check_failure_alert,
    post_alert,
    run_failure_alert,
)

SEVERITY_RANK = {"WARN": 1, "ERROR": 2}
EVENTS_PER_TICK = 100
MAX_FIGURES = 6
MAX_FIGURE_CHARS = 60
PARTITION_TAG = "dagster/partition"


@dataclass(frozen=True)
class CheckEvaluationRecord:
    """One stored asset check evaluation, with its storage id, run and partition."""

    storage_id: int
    evaluation: dg.AssetCheckEvaluation
    run_id: str
    job_name: str | None
    partition: str | None

    @property
    def failed_severity(self) -> str | None:
        """``"WARN"`` or ``"ERROR"`` for a failed evaluation, None for a passed one."""
        return None if self.evaluation.passed else self.evaluation.severity.value


class AlertWebhook(dg.ConfigurableResource):
    """A Slack-compatible incoming webhook that alert messages are posted to."""

    url: str = Field(description="Incoming-webhook URL; a secret, so set it with dg.EnvVar.")
    dagster_url: str = Field(
        default="", description="Base URL of the Dagster UI for links to runs ('' = no links)."
    )
    timeout_seconds: float = Field(default=10, gt=0, description="Timeout of one POST.")
    min_check_severity: str = Field(
        default="WARN", description="Failed checks at or above this severity (WARN, ERROR) post."
    )

    @field_validator("min_check_severity")
    @classmethod
    def _known_severity(cls, value: str) -> str:
        severity = value.strip().upper()
        if severity not in SEVERITY_RANK:
            raise ValueError(f"min_check_severity must be one of {sorted(SEVERITY_RANK)}")
        return severity

    def post(self, alert: Alert) -> None:
        """Post ``alert``; raises :class:`AlertDeliveryError` (naming the host, never the URL),
        or ``ValueError`` when no http(s) URL is configured."""
        # compose passes an unset variable as "": say which one instead of a delivery error
        if not self.url.strip().lower().startswith(("http://", "https://")):
            raise ValueError(
                "the alert webhook URL must be an http(s) URL: set FORECAST_ALERT_WEBHOOK_URL "
                "before starting the alert sensors"
            )
        post_alert(self.url.strip(), alert.to_payload(), self.timeout_seconds)

    def run_url(self, run_id: str | None) -> str | None:
        """The run's page in the Dagster UI, when a base URL is configured."""
        if not self.dagster_url or not run_id:
            return None
        return f"{self.dagster_url.rstrip('/')}/runs/{run_id}"

    def wants(self, record: CheckEvaluationRecord) -> bool:
        """Whether a check evaluation is a failure at or above ``min_check_severity``."""
        severity = record.failed_severity
        return (
            severity is not None
            and SEVERITY_RANK[severity] >= SEVERITY_RANK[self.min_check_severity]
        )


def new_check_evaluations(
    instance: dg.DagsterInstance,
    cursor: str | None,
    check_keys: Collection[dg.AssetCheckKey] | None = None,
    limit: int = EVENTS_PER_TICK,
) -> tuple[list[CheckEvaluationRecord], str]:
    """The asset check evaluations stored after ``cursor`` (oldest first, at most ``limit``,
    only those of ``check_keys`` when given) and the cursor past the last one read.

    The cursor is an event-log storage id. Without a cursor nothing is returned and the cursor
    is that of the latest stored evaluation, so a sensor's first tick starts from now instead of
    replaying the history. An evaluation's partition is its own, else its run's partition tag.

    Storage ids come from the event log directly: ``DagsterInstance.get_event_records`` is
    deprecated (Dagster 2.0) and its replacements (``fetch_materializations``,
    ``fetch_observations``, ``fetch_run_status_changes``) do not cover check evaluations.
    """
    storage = instance.event_log_storage
    if cursor is None:
        latest = storage.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
            limit=1,
            ascending=False,
        )
        return [], str(latest[0].storage_id if latest else 0)
    records = storage.get_event_records(
        dg.EventRecordsFilter(
            event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=int(cursor)
        ),
        limit=limit,
        ascending=True,
    )
    run_partitions: dict[str, str | None] = {}
    found = []
    for record in records:
        entry = record.event_log_entry
        evaluation = (
            entry.dagster_event.asset_check_evaluation_data if entry.dagster_event else None
        )
        if evaluation is None or (check_keys and evaluation.asset_check_key not in check_keys):
            continue
        partition = evaluation.partition
        if partition is None and entry.run_id:
            if entry.run_id not in run_partitions:
                run = instance.get_run_by_id(entry.run_id)
                run_partitions[entry.run_id] = run.tags.get(PARTITION_TAG) if run else None
            partition = run_partitions[entry.run_id]
        found.append(
            CheckEvaluationRecord(
                record.storage_id, evaluation, entry.run_id, entry.job_name, partition
            )
        )
    return found, str(records[-1].storage_id) if records else cursor


def check_evaluation_alert(record: CheckEvaluationRecord, webhook: AlertWebhook) -> Alert:
    """The message for one failed check evaluation."""
    evaluation = record.evaluation
    return check_failure_alert(
        evaluation.check_name,
        evaluation.asset_key.to_user_string(),
        evaluation.severity.value,
        partition=record.partition,
        description=evaluation.description,
        figures=_figures(evaluation.metadata),
        job_name=record.job_name,
        run_id=record.run_id or None,
        run_url=webhook.run_url(record.run_id),
    )


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Posts each failed run of this code location to the alert webhook.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook) -> None:
    """One message per failed run: job, partition, run id, the failure and each failed step's
    error (without tracebacks; the message links to the run when the UI's URL is set).

    A delivery error fails the evaluation for that run with :class:`AlertDeliveryError`, which
    Dagster shows on the tick; Dagster's run-status cursor moves past the run all the same.
    """
    run = context.dagster_run
    alert_webhook.post(
        run_failure_alert(
            run.job_name,
            run.run_id,
            error=_run_error(context),
            partition=run.tags.get(PARTITION_TAG),
            run_url=alert_webhook.run_url(run.run_id),
        )
    )


@dg.sensor(
    name="alert_on_check_failure",
    default_status=dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description="Posts failed asset checks at or above the webhook's minimum severity.",
)
def alert_on_check_failure(
    context: dg.SensorEvaluationContext, alert_webhook: AlertWebhook
) -> dg.SensorResult:
    """One message per failed asset check evaluation at or above ``min_check_severity``, oldest
    first, read from the event log after the cursor (a storage id).

    The first tick (no cursor) posts nothing: it sets the cursor to the latest stored check
    evaluation, so starting the sensor does not replay the history. The cursor moves only past
    evaluations that were delivered or not worth a message: when the webhook refuses the first
    message of a tick, the tick fails with :class:`AlertDeliveryError` and keeps its cursor, so
    the next tick retries; when it refuses a later one, the tick keeps what it delivered and
    stops there, and the next tick starts with the refused message.
    """
    records, read_to = new_check_evaluations(context.instance, context.cursor)
    if context.cursor is None:
        return dg.SensorResult(
            skip_reason=f"First tick: alerting on check evaluations after storage id {read_to}.",
            cursor=read_to,
        )
    delivered_to, posted = context.cursor, 0
    for record in records:
        if alert_webhook.wants(record):
            try:
                alert_webhook.post(check_evaluation_alert(record, alert_webhook))
            except AlertDeliveryError as exc:
                if posted == 0:
                    raise
                return dg.SensorResult(
                    skip_reason=f"Posted {posted} check alert(s), then stopped: {exc}",
                    cursor=delivered_to,
                )
            posted += 1
        delivered_to = str(record.storage_id)
    return dg.SensorResult(
        skip_reason=f"Posted {posted} check alert(s) for {len(records)} new evaluation(s).",
        cursor=read_to,
    )


def _run_error(context: dg.RunFailureSensorContext) -> str:
    lines = [context.failure_event.message or "The run failed."]
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        messages = []
        while error is not None:
            messages.append(error.message.strip())
            error = error.cause
        lines.append(f"{event.step_key}: " + " <- ".join(m for m in messages if m))
    return "\n".join(lines)


def _figures(metadata: Mapping[str, dg.MetadataValue]) -> dict[str, str]:
    figures = {}
    for name, value in metadata.items():
        raw = value.value
        if isinstance(raw, float):
            figures[name] = f"{raw:.4g}"
        elif isinstance(raw, (bool, int, str)) and len(str(raw)) <= MAX_FIGURE_CHARS:
            figures[name] = str(raw)
        if len(figures) == MAX_FIGURES:
            break
    return figures
