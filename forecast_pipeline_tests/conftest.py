"""Shared fixtures: a real PostgreSQL server and fresh, migrated databases.

The server is ``FORECAST_TEST_POSTGRES_URL`` when set (CI sets it to the machine's server);
otherwise an embedded server (pgserver) is started in a temporary folder for the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forecast_pipeline.warehouse import databases, migrate

# Passive OpenMP waiting, as the local deployment sets it (see local_stack.local_environment):
# with spinning threads a LightGBM fit slows down several times when the other core is busy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("FORECAST_TEST_POSTGRES_URL")
    if url:
        return url
    return databases.start_embedded_postgres(tmp_path_factory.mktemp("pgdata"), keep_running=False)


@pytest.fixture(scope="session")
def make_database(pg_server_url: str) -> Iterator:
    """Factory of fresh databases on the test server, all dropped at the end of the session."""
    created: list[str] = []

    def make(prefix: str = "fp_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        databases.ensure_database(pg_server_url, name)
        created.append(name)
        return databases.with_database(pg_server_url, name)

    yield make
    for name in created:
        databases.drop_database(pg_server_url, name)


@pytest.fixture
def warehouse_url(make_database) -> str:
    """A fresh database at the newest migration (one per test)."""
    url = make_database()
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def mlflow_tracking_uri(make_database) -> str:
    """An MLflow backend store in its own Postgres database (MLflow migrates it on first use)."""
    return databases.with_database(make_database("fp_mlflow"), driver="psycopg")


@pytest.fixture
def platform_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, warehouse_url: str, mlflow_tracking_uri: str
) -> dict[str, str]:
    """The environment the local deployment's resources read, on fresh storage."""
    env = {
        "FORECAST_DEPLOYMENT": "local",
        "FORECAST_WAREHOUSE_URL": warehouse_url,
        "MLFLOW_TRACKING_URI": mlflow_tracking_uri,
        "FORECAST_MLFLOW_ARTIFACTS": (tmp_path / "lake" / "mlflow-artifacts").as_uri(),
        "FORECAST_LAKE_ROOT": str(tmp_path / "lake"),
        "FORECAST_LANDING_DIR": str(tmp_path / "landing"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "landing").mkdir()
    return env


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 endpoint on loopback: a moto server in a thread."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server; boto3 finds the server through AWS_ENDPOINT_URL."""
    import boto3

    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name
