"""The ``forecast-pipeline`` command: everyday actions on the platform."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from forecast_pipeline.settings import PlatformSettings, load_settings
from forecast_pipeline.warehouse.databases import READER_ROLE


def _require_local(settings: PlatformSettings) -> None:
    from forecast_pipeline.deployments import Deployment, parse_deployment

    if parse_deployment(settings.deployment) is not Deployment.LOCAL:
        raise click.UsageError(
            "this command starts the local stack; in production the services run on their "
            "own (Dagster daemon, webserver and code server, Postgres, S3, MLflow)"
        )


def _local_env(settings: PlatformSettings) -> dict[str, str]:
    from forecast_pipeline.local_stack import prepare_local_stack

    _require_local(settings)
    env = prepare_local_stack(settings)
    os.environ.update(env)
    return env


def _platform_env(settings: PlatformSettings, *names: str) -> dict[str, str]:
    """The local stack's environment, or in production the given variables (all required)."""
    if settings.deployment == "local":
        return _local_env(settings)
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise click.UsageError(f"{', '.join(missing)} not set")
    return {name: os.environ[name] for name in names}


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the platform does.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """forecast_pipeline: sales files in, validated history, backtested forecasts out.

    Every command reads its settings from FORECAST_* environment variables (see README.md).
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    ctx.obj = {"verbose": verbose}


@main.command()
@click.option("--products", default=300, show_default=True, help="Products in the sample.")
@click.option("--stores", default=2, show_default=True, help="Stores in the sample.")
@click.option("--seed", default=7, show_default=True, help="Seed of the sample generator.")
@click.option(
    "--weeks", default=2, show_default=True, help="Weekly trainings to run, oldest first."
)
@click.pass_context
def demo(ctx: click.Context, products: int, stores: int, seed: int, weeks: int) -> None:
    """Run the whole platform end to end on a generated sample and show what it produced.

    Starts (or reuses) the local Postgres, applies migrations, writes the sample merchant's
    quarterly sales files into the landing zone, ingests them, trains the last WEEKS weekly
    partitions (backtest, ensemble, registered model, promotion gate), publishes the
    champion's forecasts, and prints the top products, the backtest figures, the promotion
    history and where everything is.
    """
    from forecast_pipeline.demo import run_demo
    from forecast_pipeline.sample import SampleConfig

    settings = load_settings()
    _require_local(settings)
    log_level = "INFO" if ctx.obj["verbose"] else "WARNING"
    sample = SampleConfig(seed=seed, n_products=products, n_stores=stores)
    report = run_demo(settings, sample, log_level=log_level, weeks=weeks)
    env = report.env
    echo = click.echo
    echo(click.style("\n== Uploads ==", bold=True))
    echo(
        f"{report.sample_files} sample files in {settings.landing_dir}; "
        f"{len(report.new_uploads)} new upload(s) ingested in this run"
    )
    echo(report.uploads.to_string(index=False))
    echo(click.style(f"\n== Backtest (forecast week {report.forecast_week}) ==", bold=True))
    echo(report.leaderboard.to_string(index=False))
    echo(click.style("\n== Top 3 products per category, next week ==", bold=True))
    echo(report.top_products.to_string(index=False))
    echo(click.style("\n== Promotion gate ==", bold=True))
    for outcome in report.trainings:
        echo(f"week {outcome.partition}: {outcome.reason}")
    echo(report.promotions.to_string(index=False))
    run = report.latest_run.iloc[0]
    echo(click.style("\n== Published run ==", bold=True))
    echo(
        f"champion {run['model_name']} v{run['model_version']} (MLflow run "
        f"{run['mlflow_run_id']}), forecasting from weeks {run['data_start']} .. "
        f"{run['data_end']}, published {run['published_at']:%Y-%m-%d %H:%M:%S %Z}"
    )
    echo(click.style(f"\n== Realised accuracy of week {report.forecast_week} ==", bold=True))
    if report.accuracy.empty:
        echo("no earlier run forecast this week (train and publish more weeks: --weeks)")
    else:
        echo("the earlier runs' forecasts of the week against its sales (docs/monitoring.md)")
        echo(report.accuracy.to_string(index=False))
    echo(click.style("\n== Row counts ==", bold=True))
    for table, count in report.row_counts.items():
        echo(f"{table:40s} {count:>10,d}")
    echo(click.style("\n== Stage wall times ==", bold=True))
    for stage, seconds in report.stage_seconds.items():
        echo(f"{stage:50s} {seconds:8.1f} s")
    echo(click.style("\n== Where things are ==", bold=True))
    echo(f"warehouse (tables in schemas warehouse, forecasts): {env['FORECAST_WAREHOUSE_URL']}")
    echo(f"BI views (schema analytics, role {READER_ROLE}): {env['FORECAST_READER_URL']}")
    echo(
        f"MLflow runs: tracking URI {env['MLFLOW_TRACKING_URI']}, experiment forecast_pipeline, "
        f"registered model {run['model_name']} (aliases champion / challenger); artifacts in "
        f"{env['FORECAST_MLFLOW_ARTIFACTS']}"
    )
    echo(
        f"lake files: {env['FORECAST_LAKE_ROOT']} (raw/, validated/, features/, models/, "
        "forecasts/, exports/, indicators/)"
    )
    echo(f"Dagster instance: {env['DAGSTER_HOME']}")
    echo(
        "\nNext: `forecast-pipeline ui` opens the Dagster UI on http://127.0.0.1:3000 and "
        "`forecast-pipeline api` serves http://127.0.0.1:8000/api/v1/forecast/top-products"
    )


@main.command()
@click.option("--port", default=3000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def ui(port: int, host: str) -> None:
    """Start the Dagster UI and daemon (`dagster dev`) on the local stack."""
    from forecast_pipeline.local_stack import REPOSITORY_ROOT

    _local_env(load_settings())
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    command = [
        dagster,
        "dev",
        "-w",
        str(REPOSITORY_ROOT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]
    raise SystemExit(subprocess.call(command))


@main.command()
@click.option("--port", default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def api(port: int, host: str) -> None:
    """Serve the read-only forecast API (FastAPI on uvicorn) from the analytics views."""
    import uvicorn

    settings = load_settings()
    if settings.deployment == "local":
        _local_env(settings)
    # on SIGTERM uvicorn stops accepting, finishes the requests in flight (up to the timeout),
    # then runs the app's shutdown (the pool and the run tracker close)
    uvicorn.run(
        "forecast_pipeline.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        timeout_graceful_shutdown=30,
        access_log=False,  # the app logs every request as JSON
    )


@main.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def upload(files: tuple[Path, ...]) -> None:
    """Put sales files into the local landing zone (written atomically, picked up by the sensor)."""
    settings = load_settings()
    settings.landing_dir.mkdir(parents=True, exist_ok=True)
    for source in files:
        target = settings.landing_dir / source.name
        partial = target.with_name(target.name + ".part")
        shutil.copyfile(source, partial)
        partial.replace(target)
        click.echo(f"{source} -> {target}")


@main.command()
def migrate() -> None:
    """Apply the warehouse migrations (starting the local Postgres if needed)."""
    from forecast_pipeline.warehouse.migrate import current_revision, upgrade

    settings = load_settings()
    if settings.deployment == "local":
        env = _local_env(settings)
        url = env["FORECAST_WAREHOUSE_URL"]
    else:
        url = os.environ.get("FORECAST_WAREHOUSE_URL") or ""
        if not url:
            raise click.UsageError("FORECAST_WAREHOUSE_URL is not set")
        upgrade(url)
    click.echo(f"warehouse at migration {current_revision(url)}")


@main.command()
@click.option("--products", default=300, show_default=True)
@click.option("--stores", default=2, show_default=True)
@click.option("--seed", default=7, show_default=True)
def sample(products: int, stores: int, seed: int) -> None:
    """Write the generated sample merchant's sales files into the landing zone."""
    from forecast_pipeline.sample import SampleConfig, write_sales_uploads

    settings = load_settings()
    config = SampleConfig(seed=seed, n_products=products, n_stores=stores)
    for path in write_sales_uploads(settings.landing_dir, config):
        click.echo(str(path))


@main.command()
def env() -> None:
    """Print the local stack's environment as shell exports (for psql, dagster, mlflow)."""
    for key, value in sorted(_local_env(load_settings()).items()):
        click.echo(f"export {key}='{value}'")


@main.group("api-key")
def api_key() -> None:
    """API keys of the forecast API: create, list, revoke (only their hashes are stored)."""


def _warehouse(settings: PlatformSettings):
    import psycopg

    env = _platform_env(settings, "FORECAST_WAREHOUSE_URL")
    return psycopg.connect(env["FORECAST_WAREHOUSE_URL"])


@api_key.command("create")
@click.argument("name")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Requests per minute for this key (default: the API's setting).")  # fmt: skip
def api_key_create(name: str, rate_limit: int | None) -> None:
    """Create a key for NAME (who or what uses it) and print it: it is shown only once."""
    from forecast_pipeline.api.keys import create_key

    try:
        with _warehouse(load_settings()) as conn:
            record, key = create_key(conn, name, rate_limit)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"created key {record.key_id} for {record.name!r}; store it now, it is not kept:")
    click.echo(key)


@api_key.command("list")
def api_key_list() -> None:
    """List the keys (ids, names, limits, created, revoked), never the keys themselves."""
    from forecast_pipeline.api.keys import list_keys

    with _warehouse(load_settings()) as conn:
        keys = list_keys(conn)
    if not keys:
        click.echo("no API keys yet: create one with `forecast-pipeline api-key create NAME`")
        return
    for key in keys:
        revoked = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        limit = key.rate_limit_per_minute or "default"
        click.echo(
            f"{key.key_id}  {key.name:30s}  limit {limit!s:>7}/min  "
            f"created {key.created_at:%Y-%m-%d %H:%M}  {revoked}"
        )


@api_key.command("revoke")
@click.argument("key_id")
def api_key_revoke(key_id: str) -> None:
    """Revoke KEY_ID: the API refuses it within its key cache time (5 s by default)."""
    from forecast_pipeline.api.keys import revoke_key

    with _warehouse(load_settings()) as conn:
        record = revoke_key(conn, key_id)
    if record is None:
        raise click.UsageError(f"no API key {key_id!r}")
    click.echo(
        f"revoked key {record.key_id} ({record.name}) at {record.revoked_at:%Y-%m-%d %H:%M:%S}"
    )


MODEL_ENV = ("MLFLOW_TRACKING_URI", "FORECAST_WAREHOUSE_URL")
MODEL_NAME_OPTION = click.option(
    "--model-name",
    default=None,
    help="Registered model (default: forecast_pipeline_ensemble).",
)


def _registry(env: dict[str, str], name: str | None):
    import mlflow

    from forecast_pipeline.tracking.registry import DEFAULT_MODEL_NAME, ModelRegistry

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    mlflow.set_registry_uri(env["MLFLOW_TRACKING_URI"])
    return ModelRegistry(mlflow.MlflowClient(), name or DEFAULT_MODEL_NAME)


@main.group()
def model() -> None:
    """The registered forecasting model: versions, promotion history, rollback."""


@model.command("versions")
@MODEL_NAME_OPTION
def model_versions(model_name: str | None) -> None:
    """List the registered versions with their aliases and training windows."""
    import pandas as pd

    registry = _registry(_platform_env(load_settings(), *MODEL_ENV), model_name)
    rows = [
        {
            "version": v.version,
            "aliases": ",".join(v.aliases) or "-",
            "training_week": v.tags.get("dagster.partition", "-"),
            "training_window": f"{v.tags.get('training_window.start', '?')} .. "
            f"{v.tags.get('training_window.end', '?')}",
            "created": pd.Timestamp(v.created_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M"),
            "mlflow_run_id": v.run_id or "-",
        }
        for v in registry.versions()
    ]
    if not rows:
        click.echo(f"registered model {registry.name!r} has no versions yet")
        return
    click.echo(pd.DataFrame(rows).to_string(index=False))


@model.command("history")
@MODEL_NAME_OPTION
def model_history(model_name: str | None) -> None:
    """Show the promotion history (analytics.model_promotions), oldest first."""
    import psycopg

    from forecast_pipeline.tracking.registry import DEFAULT_MODEL_NAME
    from forecast_pipeline.warehouse.promotions import load_promotions

    env = _platform_env(load_settings(), *MODEL_ENV)
    with psycopg.connect(env["FORECAST_WAREHOUSE_URL"]) as conn:
        history = load_promotions(conn, model_name or DEFAULT_MODEL_NAME)
    if history.empty:
        click.echo("no promotion decision yet")
        return
    shown = history[
        [
            "version",
            "decision",
            "decided_at",
            "partition_key",
            "previous_champion",
            "challenger_value",
            "champion_value",
            "baseline_value",
            "decided_by",
        ]
    ]
    shown = shown.round(4).astype(object).where(shown.notna(), "-")
    click.echo(shown.to_string(index=False))
    click.echo("\nreasons:")
    for row in history.itertuples():
        click.echo(f"  v{row.version} {row.decision}: {row.reason}")


@model.command("rollback")
@click.argument("version", type=int)
@click.option("--reason", required=True, help="Why: kept in the promotion history.")
@MODEL_NAME_OPTION
def model_rollback(version: int, reason: str, model_name: str | None) -> None:
    """Make VERSION the champion again (publishing uses it from the next run on)."""
    import getpass

    import psycopg

    from forecast_pipeline.tracking.registry import UnknownVersionError
    from forecast_pipeline.warehouse.promotions import Promotion, record_promotion

    env = _platform_env(load_settings(), *MODEL_ENV)
    registry = _registry(env, model_name)
    try:
        target = registry.version(version)
    except UnknownVersionError as error:
        raise click.UsageError(str(error)) from None
    current = registry.champion()
    if current is not None and current.version == version:
        raise click.UsageError(f"version {version} is already the champion of {registry.name}")
    previous = current
    # the history row commits only if the alias moved: a failed move leaves no false record
    with psycopg.connect(env["FORECAST_WAREHOUSE_URL"]) as conn:
        record_promotion(
            conn,
            Promotion(
                model_name=registry.name,
                version=version,
                decision="rolled_back",
                reason=reason,
                decided_by=f"cli:{getpass.getuser()}",
                partition_key=target.tags.get("dagster.partition"),
                previous_champion=previous.version if previous else None,
                mlflow_run_id=target.run_id,
            ),
        )
        registry.promote(version)
    before = f"v{previous.version}" if previous else "none"
    click.echo(f"champion of {registry.name}: {before} -> v{version} ({reason})")


if __name__ == "__main__":
    main()
