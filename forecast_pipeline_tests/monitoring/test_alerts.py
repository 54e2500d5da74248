"""Alerts: what a Slack-compatible webhook receives for failed runs and failed checks.

The webhook is a real HTTP server on loopback; runs and check evaluations are real, executed on
a Dagster instance whose storage is Postgres, as in both deployments; the sensors are evaluated
as the daemon evaluates them (``evaluate_tick``), cursor included.
"""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import pytest

from forecast_pipeline.alerts import Alert, AlertDeliveryError, post_alert, webhook_host
from forecast_pipeline.defs.monitoring.alerts import (
    AlertWebhook,
    alert_on_check_failure,
    alert_on_run_failure,
)
from forecast_pipeline.defs.monitoring.retraining import RetrainingPolicy, retrain_on_error_drift
from forecast_pipeline.defs.partitions import weekly
from forecast_pipeline.warehouse import databases

SECRET_PATH = "/services/T0FORECAST/B0ALERTS/s3cr3t-t0ken"
DAGSTER_URL = "http://dagster.example:3000/"
WEEK = "2026-11-09"
REALISED_ACCURACY = dg.AssetKey(["monitoring", "realised_accuracy"])
FEATURES = dg.AssetKey(["features", "weekly_sales"])


# -- a webhook receiver on loopback -------------------------------------------------------


@dataclass
class Receiver:
    """What the webhook received; ``status`` is its answer, ``answers`` overrides it for the
    next requests one by one, ``delay`` holds every answer back."""

    url: str
    host: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [request["json"] for request in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers["Content-Length"]))
        receiver.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "json": json.loads(body),
            }
        )
        status = receiver.answers.pop(0) if receiver.answers else receiver.status
        time.sleep(receiver.delay)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok" if status < 300 else b"internal_error")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # never through a proxy configured on the host
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    host = f"127.0.0.1:{server.server_address[1]}"
    server.receiver = Receiver(url=f"http://{host}{SECRET_PATH}", host=host)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.receiver  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance(make_database) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance on a fresh Postgres database (dagster-postgres runs on psycopg2)."""
    url = databases.with_database(make_database("fp_dagster"), driver="psycopg2")
    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as inst:
        yield inst


def _webhook(receiver: Receiver, **settings: Any) -> AlertWebhook:
    return AlertWebhook(url=receiver.url, dagster_url=DAGSTER_URL, **settings)


def _tick(
    sensor: dg.SensorDefinition,
    instance: dg.DagsterInstance,
    webhook: AlertWebhook,
    cursor: str | None,
):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"alert_webhook": webhook}
    ) as context:
        return sensor.evaluate_tick(context)


# -- real runs and real check evaluations -------------------------------------------------


class Outcome(dg.Config):
    result: str = "PASS"  # PASS, WARN or ERROR


def _check_result(check_name: str, outcome: Outcome, figures: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=outcome.result == "PASS",
        severity=dg.AssetCheckSeverity.WARN
        if outcome.result == "WARN"
        else dg.AssetCheckSeverity.ERROR,
        metadata=figures,
        description=f"{check_name}: {outcome.result} for the week",
    )


@dg.asset(
    key=REALISED_ACCURACY,
    partitions_def=weekly,
    check_specs=[dg.AssetCheckSpec("error_drift", asset=REALISED_ACCURACY)],
)
def realised_accuracy(config: Outcome) -> dg.MaterializeResult:
    figures = {"wape": 0.4213, "band_upper": 0.25, "note": "above <band>"}
    return dg.MaterializeResult(check_results=[_check_result("error_drift", config, figures)])


@dg.asset(
    key=FEATURES,
    partitions_def=weekly,
    check_specs=[dg.AssetCheckSpec("input_drift", asset=FEATURES)],
)
def weekly_sales(config: Outcome) -> dg.MaterializeResult:
    figures = {"drifted_features": 2, "psi_max": 0.31}
    return dg.MaterializeResult(check_results=[_check_result("input_drift", config, figures)])


def _evaluate(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, result: str) -> str:
    """Materialise ``asset`` for WEEK with its check ending in ``result``; the run id."""
    name = asset.key.to_python_identifier()
    outcome = dg.materialize(
        [asset],
        instance=instance,
        partition_key=WEEK,
        run_config=dg.RunConfig({name: Outcome(result=result)}),
    )
    assert outcome.success
    return outcome.run_id


@dg.op
def load_week() -> None:
    raise ValueError("sales file for week 2026-11-09 has no rows")


@dg.job
def exploding_job() -> None:
    load_week()


@dg.op
def fine() -> None:
    pass


@dg.job
def fine_job() -> None:
    fine()


# -- tests ----------------------------------------------------------------------------------


def test_alert_and_retraining_sensors_are_off_by_default() -> None:
    for sensor in (alert_on_run_failure, alert_on_check_failure, retrain_on_error_drift):
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED, sensor.name
    assert "alert_webhook" in alert_on_run_failure.required_resource_keys
    assert "alert_webhook" in alert_on_check_failure.required_resource_keys
    assert RetrainingPolicy().enabled is False
    with pytest.raises(ValueError, match="min_check_severity"):
        AlertWebhook(url="http://127.0.0.1/x", min_check_severity="INFO")


@pytest.mark.parametrize("url", ["", "  ", "hooks.slack.com/services/T0/B0/x"])
def test_a_webhook_without_an_http_url_says_which_variable_to_set(url: str) -> None:
    # compose passes an unset FORECAST_ALERT_WEBHOOK_URL as an empty string
    webhook = AlertWebhook(url=url)
    with pytest.raises(ValueError, match="set FORECAST_ALERT_WEBHOOK_URL"):
        webhook.post(Alert(title="t", summary="s"))


def test_a_failed_run_posts_one_message_with_job_run_and_error(
    instance: dg.DagsterInstance, receiver: Receiver
) -> None:
    webhook = _webhook(receiver)
    first = _tick(alert_on_run_failure, instance, webhook, None)  # Dagster's first tick: cursor
    assert first.skip_message.startswith("Initiating")

    assert fine_job.execute_in_process(instance=instance).success
    failed = exploding_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success

    second = _tick(alert_on_run_failure, instance, webhook, first.cursor)
    assert [r.error for r in second.dagster_run_reactions] == [None]
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert (request["method"], request["path"]) == ("POST", SECRET_PATH)
    assert request["headers"]["Content-Type"].startswith("application/json")
    message = request["json"]
    posted = json.dumps(message)
    assert "exploding_job" in message["text"] and failed.run_id in message["text"]
    assert "sales file for week 2026-11-09 has no rows" in posted
    assert "load_week" in posted  # the failed step
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Run failed: exploding_job"},
    }
    run_link = f"http://dagster.example:3000/runs/{failed.run_id}"
    assert f"<{run_link}|Open the run in Dagster>" in posted

    third = _tick(alert_on_run_failure, instance, webhook, second.cursor)
    assert not third.dagster_run_reactions
    assert len(receiver.requests) == 1


def test_a_refused_run_alert_is_reported_on_the_tick_without_the_url(
    instance: dg.DagsterInstance, receiver: Receiver
) -> None:
    webhook = _webhook(receiver)
    cursor = _tick(alert_on_run_failure, instance, webhook, None).cursor
    exploding_job.execute_in_process(instance=instance, raise_on_error=False)
    receiver.status = 500

    tick = _tick(alert_on_run_failure, instance, webhook, cursor)

    (reaction,) = tick.dagster_run_reactions
    error = reaction.error.to_string()
    assert "AlertDeliveryError" in error and "HTTP 500" in error and receiver.host in error
    assert "s3cr3t" not in error and SECRET_PATH not in error


@pytest.mark.parametrize(
    ("asset", "result", "check"),
    [(realised_accuracy, "WARN", "error_drift"), (weekly_sales, "ERROR", "input_drift")],
)
def test_a_failed_check_posts_its_severity_partition_and_figures(
    instance: dg.DagsterInstance,
    receiver: Receiver,
    asset: dg.AssetsDefinition,
    result: str,
    check: str,
) -> None:
    webhook = _webhook(receiver)
    first = _tick(alert_on_check_failure, instance, webhook, None)
    run_id = _evaluate(instance, asset, result)

    second = _tick(alert_on_check_failure, instance, webhook, first.cursor)

    assert int(second.cursor) > int(first.cursor)
    assert second.skip_message == "Posted 1 check alert(s) for 1 new evaluation(s)."
    (message,) = receiver.messages
    fields = {
        line.split("\n", 1)[0].strip("*"): line.split("\n", 1)[1]
        for line in (f["text"] for f in message["blocks"][2]["fields"])
    }
    assert fields["Check"] == f"{asset.key.to_user_string()} · {check}"
    assert fields["Severity"] == result
    assert fields["Partition"] == WEEK
    assert fields["Run id"] == run_id
    assert f"Check failed ({result}): {check}" == message["blocks"][0]["text"]["text"]
    assert f"{check}: {result} for the week" in json.dumps(message)  # the description
    if check == "error_drift":
        # figures, Slack-escaped
        assert fields["Figures"] == "band_upper=0.25, note=above &lt;band&gt;, wape=0.4213"
    else:
        assert fields["Figures"] == "drifted_features=2, psi_max=0.31"

    third = _tick(alert_on_check_failure, instance, webhook, second.cursor)
    assert third.cursor == second.cursor
    assert len(receiver.requests) == 1


def test_a_passing_check_posts_nothing_and_moves_the_cursor(
    instance: dg.DagsterInstance, receiver: Receiver
) -> None:
    webhook = _webhook(receiver)
    first = _tick(alert_on_check_failure, instance, webhook, None)
    _evaluate(instance, realised_accuracy, "PASS")

    second = _tick(alert_on_check_failure, instance, webhook, first.cursor)

    assert receiver.requests == []
    assert int(second.cursor) > int(first.cursor)
    assert second.skip_message == "Posted 0 check alert(s) for 1 new evaluation(s)."


def test_min_severity_error_leaves_warnings_out(
    instance: dg.DagsterInstance, receiver: Receiver
) -> None:
    webhook = _webhook(receiver, min_check_severity="ERROR")
    cursor = _tick(alert_on_check_failure, instance, webhook, None).cursor
    _evaluate(instance, realised_accuracy, "WARN")
    _evaluate(instance, weekly_sales, "ERROR")

    _tick(alert_on_check_failure, instance, webhook, cursor)

    assert [m["blocks"][0]["text"]["text"] for m in receiver.messages] == [
        "Check failed (ERROR): input_drift"
    ]


def test_the_first_tick_does_not_replay_history(
    instance: dg.DagsterInstance, receiver: Receiver
) -> None:
    webhook = _webhook(receiver)
    _evaluate(instance, realised_accuracy, "ERROR")

    first = _tick(alert_on_check_failure, instance, webhook, None)
    second = _tick(alert_on_check_failure, instance, webhook, first.cursor)

    assert int(first.cursor) > 0
    assert "First tick" in first.skip_message
    assert second.cursor == first.cursor
    assert receiver.requests == []


def test_a_refused_check_alert_fails_the_tick_and_is_retried(
    instance: dg.DagsterInstance, receiver: Receiver
) -> None:
    webhook = _webhook(receiver)
    cursor = _tick(alert_on_check_failure, instance, webhook, None).cursor
    _evaluate(instance, realised_accuracy, "ERROR")
    receiver.status = 500

    with pytest.raises(AlertDeliveryError) as refused:
        _tick(alert_on_check_failure, instance, webhook, cursor)

    assert refused.value.status == 500 and refused.value.host == receiver.host
    assert str(refused.value) == (
        f"Alert webhook at {receiver.host} did not accept the alert: HTTP 500: internal_error"
    )
    assert len(receiver.requests) == 1

    # the receiver recovers; the next tick starts from the same cursor and delivers
    receiver.status = 200
    retried = _tick(alert_on_check_failure, instance, webhook, cursor)
    assert len(receiver.requests) == 2
    assert receiver.messages[0] == receiver.messages[1]
    assert int(retried.cursor) > int(cursor)
    _tick(alert_on_check_failure, instance, webhook, retried.cursor)
    assert len(receiver.requests) == 2


def test_a_tick_keeps_what_it_delivered_before_a_refusal(
    instance: dg.DagsterInstance, receiver: Receiver
) -> None:
    webhook = _webhook(receiver)
    cursor = _tick(alert_on_check_failure, instance, webhook, None).cursor
    _evaluate(instance, realised_accuracy, "ERROR")
    _evaluate(instance, weekly_sales, "WARN")
    receiver.answers = [200, 503]

    partial = _tick(alert_on_check_failure, instance, webhook, cursor)
    assert "Posted 1 check alert(s), then stopped" in partial.skip_message
    assert "HTTP 503" in partial.skip_message
    assert int(partial.cursor) > int(cursor)

    rest = _tick(alert_on_check_failure, instance, webhook, partial.cursor)
    titles = [m["blocks"][0]["text"]["text"] for m in receiver.messages]
    assert titles == [
        "Check failed (ERROR): error_drift",
        "Check failed (WARN): input_drift",  # refused
        "Check failed (WARN): input_drift",  # retried, once
    ]
    assert int(rest.cursor) > int(partial.cursor)


def test_payload_is_slack_blocks_with_escaped_text_and_a_link() -> None:
    alert = Alert(
        title="Run failed: weekly_training_job",
        summary="Run abc of weekly_training_job failed.",
        fields=[("Job", "weekly_training_job"), ("Partition", "2026-11-09")],
        details="KeyError: <missing> & more",
        link=("http://dagster:3000/runs/abc", "Open the run in Dagster"),
    )

    payload = alert.to_payload()

    assert payload["text"] == (
        "*Run failed: weekly_training_job*: Run abc of weekly_training_job failed. "
        "<http://dagster:3000/runs/abc|Open the run in Dagster>"
    )
    assert [b["type"] for b in payload["blocks"]] == [
        "header",
        "section",
        "section",
        "section",
        "section",
    ]
    assert payload["blocks"][2]["fields"][1] == {
        "type": "mrkdwn",
        "text": "*Partition*\n2026-11-09",
    }
    assert payload["blocks"][3]["text"]["text"] == "```KeyError: &lt;missing&gt; &amp; more```"
    json.dumps(payload)  # serialisable as is


def test_delivery_errors_name_the_host_only(receiver: Receiver) -> None:
    assert webhook_host("https://user:pw@hooks.slack.com/services/T/B/x") == "hooks.slack.com"

    receiver.delay = 1.0
    with pytest.raises(AlertDeliveryError, match=r"at 127\.0\.0\.1:\d+ .*no answer within 0\.2 s"):
        post_alert(receiver.url, {"text": "slow"}, timeout_seconds=0.2)

    with pytest.raises(AlertDeliveryError, match="not an http") as bad_scheme:
        post_alert("hooks.slack.com/services/T/B/s3cr3t", {"text": "x"}, timeout_seconds=1)
    assert "s3cr3t" not in str(bad_scheme.value)

    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = closed.server_address[1]
    closed.server_close()  # nobody listens on this port any more
    with pytest.raises(AlertDeliveryError, match="connection failed") as refused:
        post_alert(f"http://127.0.0.1:{port}{SECRET_PATH}", {"text": "x"}, timeout_seconds=1)
    assert f"127.0.0.1:{port}" in str(refused.value) and "s3cr3t" not in str(refused.value)
