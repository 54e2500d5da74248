"""`forecast-pipeline model ...`: versions, promotion history and rollback, as a user sees them.

A real MLflow store (Postgres backend) holds one registered model with three versions
(champion v2, challenger v3); every test gets a fresh migrated warehouse and runs the command
through click's ``CliRunner`` with the production deployment's environment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mlflow
import psycopg
import pytest
from click.testing import CliRunner, Result
from mlflow import MlflowClient
from psycopg.rows import dict_row

from forecast_pipeline.cli import main
from forecast_pipeline.tracking.model import log_forecaster
from forecast_pipeline.tracking.registry import CHALLENGER, CHAMPION, ModelRegistry

if TYPE_CHECKING:
    from forecast_pipeline_tests.tracking.conftest import Trained

REASON = "v2 over-forecasts Q4"


@dataclass(frozen=True)
class Registered:
    """A registered model with versions 1, 2, 3 in the store at ``tracking_uri``."""

    name: str
    tracking_uri: str
    run_ids: dict[int, str]

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def alias(self, alias: str) -> int:
        return int(self.client().get_model_version_by_alias(self.name, alias).version)


@pytest.fixture(scope="module")
def registered(
    trained: Trained, mlflow_tracking_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registered]:
    """Three versions of the trained forecaster, one MLflow run each (logged once per module:
    each ``log_forecaster`` takes seconds)."""
    mlflow.set_tracking_uri(mlflow_tracking_uri)
    mlflow.set_registry_uri(mlflow_tracking_uri)
    artifacts = tmp_path_factory.mktemp("cli-model-artifacts")
    experiment_id = MlflowClient().create_experiment(
        f"test-cli-model-{uuid.uuid4().hex[:10]}", artifact_location=artifacts.as_uri()
    )
    name = f"ensemble_cli_{uuid.uuid4().hex[:10]}"
    run_ids: dict[int, str] = {}
    for _ in range(3):
        with mlflow.start_run(experiment_id=experiment_id) as run:
            info = log_forecaster(trained.forecaster, registered_model_name=name)
        run_ids[int(info.registered_model_version)] = run.info.run_id
    assert sorted(run_ids) == [1, 2, 3]
    yield Registered(name, mlflow_tracking_uri, run_ids)


@pytest.fixture
def cli_env(
    registered: Registered, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> Registered:
    """Champion v2, challenger v3 (reset for every test); the production environment set."""
    registry = ModelRegistry(registered.client(), registered.name)
    registry.promote(2)
    registry.mark_challenger(3)
    monkeypatch.setenv("FORECAST_DEPLOYMENT", "production")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    monkeypatch.setenv("FORECAST_WAREHOUSE_URL", warehouse_url)
    return registered


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["model", *args])


def promotion_rows(warehouse_url: str, name: str) -> list[dict]:
    with psycopg.connect(warehouse_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM analytics.model_promotions WHERE model_name = %s ORDER BY decided_at",
            (name,),
        ).fetchall()


def assert_unchanged(registered: Registered, warehouse_url: str) -> None:
    assert registered.alias(CHAMPION) == 2
    assert registered.alias(CHALLENGER) == 3
    assert promotion_rows(warehouse_url, registered.name) == []


@pytest.mark.parametrize("command", ["versions", "history", "rollback"])
def test_model_commands_explain_themselves(command: str) -> None:
    result = CliRunner().invoke(main, ["model", command, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: main model {command}" in result.output
    assert "--model-name" in result.output


def test_versions_lists_every_version_with_its_alias(cli_env: Registered) -> None:
    result = invoke("versions", "--model-name", cli_env.name)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split()[:2] == ["version", "aliases"]
    rows = {int(line.split()[0]): line.split() for line in lines[1:]}
    assert sorted(rows) == [1, 2, 3]
    assert [rows[v][1] for v in (1, 2, 3)] == ["-", CHAMPION, CHALLENGER]
    for version, run_id in cli_env.run_ids.items():
        assert rows[version][-1] == run_id


def test_versions_of_an_unknown_model(cli_env: Registered) -> None:
    result = invoke("versions", "--model-name", f"{cli_env.name}_missing")
    assert result.exit_code == 0, result.output
    assert f"registered model '{cli_env.name}_missing' has no versions yet" in result.output


def test_rollback_moves_the_champion_and_records_why(
    cli_env: Registered, warehouse_url: str
) -> None:
    result = invoke("rollback", "1", "--reason", REASON, "--model-name", cli_env.name)
    assert result.exit_code == 0, result.output
    assert f"champion of {cli_env.name}: v2 -> v1 ({REASON})" in result.output

    assert cli_env.alias(CHAMPION) == 1
    assert cli_env.alias(CHALLENGER) == 3
    rows = promotion_rows(warehouse_url, cli_env.name)
    assert len(rows) == 1
    row = rows[0]
    assert row["version"] == 1
    assert row["decision"] == "rolled_back"
    assert row["previous_champion_version"] == 2
    assert row["reason"] == REASON
    assert row["decided_by"].startswith("cli:")
    assert row["mlflow_run_id"] == cli_env.run_ids[1]

    history = invoke("history", "--model-name", cli_env.name)
    assert history.exit_code == 0, history.output
    table, reasons = history.output.split("\nreasons:\n")
    header, *lines = table.strip().splitlines()
    assert header.split()[:2] == ["version", "decision"]
    assert len(lines) == 1
    assert lines[0].split()[:2] == ["1", "rolled_back"]
    assert f"v1 rolled_back: {REASON}" in reasons


def test_history_before_any_decision(cli_env: Registered) -> None:
    result = invoke("history", "--model-name", cli_env.name)
    assert result.exit_code == 0, result.output
    assert "no promotion decision yet" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["9", "--reason", REASON], "has no version 9"),
        (["2", "--reason", REASON], "version 2 is already the champion"),
        (["1"], "Missing option '--reason'"),
    ],
    ids=["unknown-version", "current-champion", "no-reason"],
)
def test_rollback_mistakes_change_nothing(
    cli_env: Registered, warehouse_url: str, args: list[str], message: str
) -> None:
    result = invoke("rollback", *args, "--model-name", cli_env.name)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert_unchanged(cli_env, warehouse_url)


@pytest.mark.parametrize(
    "args",
    [["versions"], ["history"], ["rollback", "1", "--reason", REASON]],
    ids=["versions", "history", "rollback"],
)
def test_production_without_tracking_uri_names_the_variable(
    cli_env: Registered, warehouse_url: str, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    result = invoke(*args, "--model-name", cli_env.name)
    assert result.exit_code == 2, result.output
    assert "MLFLOW_TRACKING_URI not set" in result.output
    assert "FORECAST_WAREHOUSE_URL" not in result.output
    assert_unchanged(cli_env, warehouse_url)
