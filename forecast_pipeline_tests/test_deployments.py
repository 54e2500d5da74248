"""Deployments: one function reads the deployment, one mapping gives each deployment's resources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast_pipeline.defs.resources import LocalLake, S3Lake
from forecast_pipeline.deployments import (
    Deployment,
    UnknownDeploymentError,
    current_deployment,
    parse_deployment,
    resources_for,
)
from forecast_pipeline.local_stack import REPOSITORY_ROOT


def test_local_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORECAST_DEPLOYMENT", raising=False)
    assert current_deployment() is Deployment.LOCAL


def test_unknown_deployment_fails_loudly() -> None:
    with pytest.raises(UnknownDeploymentError, match=r"'staging'.*local, production"):
        parse_deployment("staging")


@pytest.mark.parametrize(
    ("deployment", "lake_type"), [(Deployment.LOCAL, LocalLake), (Deployment.PRODUCTION, S3Lake)]
)
def test_each_deployment_has_its_resources(deployment: Deployment, lake_type: type) -> None:
    resources = resources_for(deployment)
    assert {
        "warehouse",
        "lake",
        "landing",
        "mlflow",
        "indicator_source",
        "monitoring_policy",
        "retraining_policy",
        "alert_webhook",
    } <= set(resources)
    assert isinstance(resources["lake"], lake_type)


LOAD_SCRIPT = """
import os, socket, sys
import psycopg

def refuse(*args, **kwargs):
    raise AssertionError("network or database touched while definitions load")

socket.socket.connect = refuse
psycopg.connect = refuse
from forecast_pipeline.definitions import defs
repo = defs.get_repository_def()
print(len(repo.assets_defs_by_key), len(repo.get_all_jobs()), len(repo.sensor_defs))
print(" ".join(sorted(s.name for s in repo.sensor_defs if s.default_status.value == "RUNNING")))
"""


@pytest.mark.parametrize("deployment", ["local", "production"])
def test_definitions_load_without_environment_or_connections(deployment: str) -> None:
    # Only FORECAST_DEPLOYMENT is set: no URL, no bucket, no key. Loading must still succeed
    # and must not open a socket.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env["FORECAST_DEPLOYMENT"] = deployment
    out = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    counts, running = out.stdout.splitlines()
    assets, jobs, sensors = map(int, counts.split())
    assert assets >= 8 and jobs >= 3 and sensors == 6
    # the alert and early-retraining sensors are off until someone turns them on
    assert running.split() == [
        "landing_zone_sensor",
        "publish_after_failed_training",
        "publish_after_training",
    ]


def test_definitions_refuse_an_unknown_deployment() -> None:
    env = {"PATH": os.environ["PATH"], "FORECAST_DEPLOYMENT": "moon"}
    out = subprocess.run(
        [sys.executable, "-c", "import forecast_pipeline.definitions"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0
    assert "Unknown deployment 'moon'" in out.stderr


def test_dagster_accepts_the_workspace(tmp_path) -> None:
    dagster = str(Path(sys.executable).parent / "dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FORECAST_DEPLOYMENT": "local"}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    out = subprocess.run(
        [dagster, "definitions", "validate", "-w", str(REPOSITORY_ROOT / "workspace.yaml")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "All code locations passed validation" in out.stderr + out.stdout
