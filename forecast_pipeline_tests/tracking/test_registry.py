"""The registered model on a Postgres-backed MLflow store: versions, aliases, the pyfunc's
content, and a bounded number of database connections under concurrent logging."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import mlflow
import pandas as pd
import psycopg
import pytest

from forecast_pipeline import ml, tracking
from forecast_pipeline.defs.resources import MlflowTracking
from forecast_pipeline.ml.tuning import TuningResult
from forecast_pipeline.warehouse import databases
from forecast_pipeline_tests.tracking.conftest import Trained


def _register(trained: Trained, experiment_id: str, name: str) -> int:
    with mlflow.start_run(experiment_id=experiment_id):
        info = tracking.log_forecaster(trained.forecaster, registered_model_name=name)
    return int(info.registered_model_version)


def test_aliases_move_between_versions_without_stages(
    trained: Trained, tracking_store: str, model_name: str
) -> None:
    registry = tracking.ModelRegistry(mlflow.MlflowClient(), model_name)
    assert registry.versions() == [] and registry.champion() is None
    first = _register(trained, tracking_store, model_name)
    second = _register(trained, tracking_store, model_name)
    assert (first, second) == (1, 2)
    registry.mark_challenger(first)
    assert registry.promote(first) is None  # no previous champion
    assert registry.champion().version == 1 and registry.challenger() is None
    registry.mark_challenger(second)
    previous = registry.promote(second)
    assert previous is not None and previous.version == 1
    assert [(v.version, v.aliases) for v in registry.versions()] == [(1, ()), (2, ("champion",))]
    stages = {v.current_stage for v in mlflow.MlflowClient().search_model_versions(
        f"name = '{model_name}'"
    )}  # fmt: skip
    assert stages == {"None"}
    with pytest.raises(tracking.UnknownVersionError, match="has no version 9"):
        registry.promote(9)
    assert registry.champion().version == 2


def test_registered_pyfunc_holds_code_requirements_and_signature(
    trained: Trained, tracking_store: str, model_name: str
) -> None:
    version = _register(trained, tracking_store, model_name)
    registry = tracking.ModelRegistry(mlflow.MlflowClient(), model_name)
    uri = registry.version(version).uri
    local = Path(mlflow.artifacts.download_artifacts(uri))
    assert (local / "code" / "forecast_pipeline" / "ml" / "forecaster.py").is_file()
    requirements = (local / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "mlforecast==" in requirements
    signature = mlflow.models.get_model_info(uri).signature
    assert signature.inputs.input_names()[:4] == ["unique_id", "ds", "y", "category"]
    assert {p.name for p in signature.params.params} == {"horizon", "output"}
    loaded = registry.load_forecaster(version)
    expected = trained.forecaster.forecast(trained.series, trained.categories)
    got = loaded.forecast(trained.series, trained.categories)
    pd.testing.assert_frame_equal(got.steps, expected.steps)
    model = mlflow.pyfunc.load_model(uri)
    frame = ml.features_frame(trained.series, trained.categories)
    windows = model.predict(frame, params={"output": "windows", "horizon": 4})
    assert set(windows["window"]) == {"week", "month"}
    with pytest.raises(Exception, match="output must be 'steps' or 'windows'"):
        model.predict(frame, params={"output": "daily"})


def _connections(url: str, database: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_training_step_holds_at_most_its_pool_of_connections(
    make_database, pg_server_url: str, tmp_path: Path
) -> None:
    """Eight partitions' trainings logged one after the other by one process (as a Dagster
    step process does), 200 Optuna trials and 20 more metrics each, never hold more than
    pool_size + max_overflow connections to the MLflow database."""
    url = make_database("fp_mlflow_pool")
    database = url.rsplit("/", 1)[1]
    resource = MlflowTracking(
        tracking_uri=databases.with_database(url, driver="psycopg"),
        artifact_location=(tmp_path / "artifacts").as_uri(),
        pool_size=2,
        max_overflow=1,
    )
    resource.activate()
    trials = pd.DataFrame({"number": range(200), "state": "COMPLETE", "value": 0.5, "seconds": 0.1})
    result = TuningResult("lightgbm", {"num_leaves": 31}, 0.4, 0.5, trials=trials)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _connections(pg_server_url, database))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    run_ids = []
    try:
        for week in range(1, 9):
            with resource.training_run(f"2026-11-0{week}", "dagster-run", {}) as run_id:
                tracking.log_tuning({"lightgbm": result})
                client = mlflow.MlflowClient()
                for step in range(20):
                    client.log_metric(run_id, "extra", float(step), step=step)
            run_ids.append(run_id)
    finally:
        done.set()
        watcher.join()
    assert len(set(run_ids)) == 8
    client = mlflow.MlflowClient()
    for run_id in run_ids:
        assert len(client.get_metric_history(run_id, "tuning.lightgbm.trial_wape")) == 200
    assert 0 < peak <= 3
    # the bound comes from the resource's settings, not from the sequential use
    from mlflow.tracking._tracking_service.utils import _get_store

    pool = _get_store().engine.pool
    assert (pool.size(), pool._max_overflow) == (2, 1)
