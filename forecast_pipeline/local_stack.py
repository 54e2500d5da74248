"""The local deployment's stack: Postgres (embedded or given), databases, migrations, folders.

:func:`prepare_local_stack` makes everything the local deployment needs exist and returns the
environment variables the Dagster resources, the Dagster instance and the API read.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from forecast_pipeline.settings import PlatformSettings
from forecast_pipeline.warehouse import databases, migrate

log = logging.getLogger(__name__)

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


def instance_config_file() -> Path:
    """The repository's ``dagster.yaml`` (copied into ``DAGSTER_HOME`` by the local stack)."""
    path = REPOSITORY_ROOT / "dagster.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the CLI from a checkout of the repository")
    return path


def server_url(settings: PlatformSettings) -> str:
    """The Postgres server to use: ``FORECAST_POSTGRES_URL``, else the embedded server."""
    if settings.postgres_url:
        return settings.postgres_url
    return databases.start_embedded_postgres(settings.pgdata_dir)


def local_environment(settings: PlatformSettings, server: str) -> dict[str, str]:
    """Environment variables of the local deployment for a Postgres server URL."""
    return {
        "FORECAST_DEPLOYMENT": "local",
        "FORECAST_HOME": str(settings.home),
        "FORECAST_WAREHOUSE_URL": databases.with_database(server, settings.warehouse_db),
        "FORECAST_READER_URL": databases.with_database(
            server, settings.warehouse_db, user=databases.READER_ROLE
        ),
        "FORECAST_API_DATABASE_URL": databases.with_database(
            server, settings.warehouse_db, user=databases.API_ROLE
        ),
        "DAGSTER_HOME": str(settings.dagster_home),
        # dagster-postgres runs on psycopg2; SQLAlchemy 2.1 defaults to psycopg 3, so say so.
        "DAGSTER_POSTGRES_URL": databases.with_database(
            server, settings.dagster_db, driver="psycopg2"
        ),
        "MLFLOW_TRACKING_URI": databases.with_database(
            server, settings.mlflow_db, driver="psycopg"
        ),
        "FORECAST_MLFLOW_ARTIFACTS": (settings.lake_dir / "mlflow-artifacts").resolve().as_uri(),
        "FORECAST_LAKE_ROOT": str(settings.lake_dir),
        "FORECAST_LANDING_DIR": str(settings.landing_dir),
        # LightGBM and XGBoost threads spin while they wait by default; when another process
        # holds a core that made a 2-thread fit 4-5 times slower than 1 thread (measured on a
        # 2-core machine). Passive waiting keeps 2 threads at least as fast as 1.
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }


def prepare_local_stack(settings: PlatformSettings) -> dict[str, str]:
    """Start or reuse Postgres, create the databases, migrate the warehouse, lay out the folders.

    Idempotent: running it again reuses what exists. Returns the environment of the stack.
    """
    server = server_url(settings)
    for database in (settings.warehouse_db, settings.dagster_db, settings.mlflow_db):
        databases.ensure_database(server, database)
    env = local_environment(settings, server)
    revision = migrate.upgrade(env["FORECAST_WAREHOUSE_URL"])
    log.info("warehouse at migration %s", revision)
    for folder in (settings.landing_dir, settings.lake_dir, settings.dagster_home):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(instance_config_file(), settings.dagster_home / "dagster.yaml")
    return env
