"""The tracking code against a real ``mlflow server`` process over HTTP on loopback.

One server is started for the module: a Postgres backend store in its own database and proxied
artifacts (``mlflow-artifacts:/``, stored in a temporary folder by the server). The training
run, the backtest, the pyfunc model and its aliases are recorded through the
:class:`~forecast_pipeline.defs.resources.MlflowTracking` resource pointed at the server's URL;
the champion is then loaded and run in a fresh Python process that knows only that URL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from forecast_pipeline import ml
from forecast_pipeline.defs.resources import MlflowTracking
from forecast_pipeline.tracking.model import MODEL_ARTIFACT, log_forecaster
from forecast_pipeline.tracking.registry import RegisteredVersion
from forecast_pipeline.tracking.runs import log_backtest
from forecast_pipeline.warehouse.databases import with_database

if TYPE_CHECKING:
    from forecast_pipeline_tests.tracking.conftest import Trained

STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
PARTITION = "2026-11-09"
DAGSTER_RUN_ID = "run-a"
ARTIFACT_ROOT = "forecast"
# Variables MLflow reads or writes in this process (``set_tracking_uri`` exports its URI).
MLFLOW_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE",
    "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW",
)

# Runs in a fresh interpreter whose only link to the store is MLFLOW_TRACKING_URI (an HTTP URL).
SHORT_HORIZON = 4
PREDICT_CODE = """
import sys

import mlflow.pyfunc
import pandas as pd

uri, features, short = sys.argv[1:]
model = mlflow.pyfunc.load_model(uri)
frame = pd.read_parquet(features)
model.predict(frame).to_parquet("steps.parquet", index=False)
model.predict(frame, params={"output": "windows"}).to_parquet("windows.parquet", index=False)
model.predict(frame, params={"horizon": int(short)}).to_parquet("short.parquet", index=False)
print(sys.modules["forecast_pipeline"].__file__)
"""


@dataclass(frozen=True)
class Server:
    """A running ``mlflow server``: its URL, log file and the folder behind its artifacts."""

    url: str
    log: Path
    artifacts: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no output)"


@dataclass(frozen=True)
class Published:
    """What one training recorded on the server (see the ``published`` fixture)."""

    tracking: MlflowTracking
    model_name: str
    run_ids: tuple[str, str]
    model_info: Any
    challenger_before_promotion: RegisteredVersion | None
    previous_champion: RegisteredVersion | None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - the group id was reused by someone else
        return False
    return True


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, wait for all of it, then SIGKILL what is left."""
    pgid = process.pid  # the leader of its own session (start_new_session=True)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, or it stays in the group as a zombie
        if not _group_alive(pgid):
            break
        time.sleep(0.2)
    else:
        os.killpg(pgid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="module")
def mlflow_server(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mlflow server`` on a free loopback port, in its own process group: Postgres backend
    store (a fresh database, psycopg driver) and artifacts proxied into a temporary folder.

    The server's job runner (GenAI jobs, several ``huey`` consumers) is switched off: nothing
    here uses it. The group is terminated at the end of the module.
    """
    root = tmp_path_factory.mktemp("mlflow_server")
    artifacts = root / "artifacts"
    artifacts.mkdir()
    log = root / "server.log"
    backend = with_database(make_database("fp_mlflow_server"), driver="psycopg")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        artifacts.as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    server = Server(url=url, log=log, artifacts=artifacts)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with {process.returncode}:\n{server.output()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server not healthy after {STARTUP_TIMEOUT:.0f} s:\n{server.output()}",
                    pytrace=False,
                )
            time.sleep(0.5)
        yield server
    finally:
        _stop_group(process)


@pytest.fixture(scope="module")
def published(trained: Trained, mlflow_server: Server) -> Iterator[Published]:
    """One training recorded through the resource, as the Dagster assets do: the run of
    (``run-a``, ``2026-11-09``) opened twice, the backtest and the model logged into it, the
    new version marked challenger and then promoted.

    MLflow's process-wide tracking and registry URIs (and the variables it exports) are put
    back afterwards, so later tests do not talk to the stopped server.
    """
    saved_env = {key: os.environ.get(key) for key in MLFLOW_ENV}
    saved_uris = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    tracking = MlflowTracking(
        tracking_uri=mlflow_server.url,
        artifact_location=f"mlflow-artifacts:/{ARTIFACT_ROOT}",
        registered_model=f"ensemble_server_{uuid.uuid4().hex[:10]}",
    )
    end = str(trained.forecaster.training_end.date())
    evaluation = ml.evaluate(trained.backtest, trained.spec, trained.categories)
    try:
        with tracking.training_run(PARTITION, DAGSTER_RUN_ID, {"training_window.end": end}) as a:
            log_backtest(trained.spec, evaluation, trained.forecaster.ensemble.weights)
        with tracking.training_run(PARTITION, DAGSTER_RUN_ID, {"stage": "register"}) as b:
            info = log_forecaster(
                trained.forecaster, registered_model_name=tracking.registered_model
            )
        registry = tracking.registry()
        version = int(info.registered_model_version)
        registry.mark_challenger(version)
        challenger = registry.challenger()
        previous = registry.promote(version)
        yield Published(tracking, tracking.registered_model, (a, b), info, challenger, previous)
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved_uris
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_training_run_backtest_and_aliases_over_http(
    published: Published, mlflow_server: Server, trained: Trained, tmp_path: Path
) -> None:
    """The run is found again by its tags, everything is stored through the server (artifacts
    proxied into its folder), and the promoted version is champion with no challenger."""
    first, second = published.run_ids
    assert first == second
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    run = client.get_run(first)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"train-{PARTITION}"
    tags = run.data.tags
    assert tags["dagster.run_id"] == DAGSTER_RUN_ID
    assert tags["dagster.partition"] == PARTITION
    assert tags["training_window.end"] == str(trained.forecaster.training_end.date())
    assert tags["stage"] == "register"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == published.tracking.experiment
    assert experiment.artifact_location == f"mlflow-artifacts:/{ARTIFACT_ROOT}"
    assert run.info.artifact_uri.startswith(f"mlflow-artifacts:/{ARTIFACT_ROOT}/")
    assert len(client.search_runs([run.info.experiment_id])) == 1

    # the backtest: metrics, parameters, CSV artifacts listed over HTTP and stored by the server
    metrics = run.data.metrics
    for key in ("ensemble.product.wape", "ensemble.category.wape", "ensemble.total.wape"):
        assert key in metrics and metrics[key] >= 0, key
    assert "seasonal_naive.product.wape" in metrics
    assert any(key.startswith("weight.product.") for key in metrics)
    assert run.data.params["horizon"] == str(trained.spec.horizon)
    listed = {item.path for item in client.list_artifacts(first, "backtest")}
    assert {f"backtest/{level}.csv" for level in ml.LEVELS} <= listed
    assert "backtest/metrics_by_cutoff.csv" in listed
    assert [i.path for i in client.list_artifacts(first, "ensemble")] == ["ensemble/weights.csv"]
    stored = mlflow_server.artifacts / ARTIFACT_ROOT / first / "artifacts" / "backtest"
    assert (stored / "product.csv").is_file()
    board = pd.read_csv(client.download_artifacts(first, "backtest/product.csv", str(tmp_path)))
    assert "ensemble" in set(board["model"])

    # the model: an MLflow 3 logged model of the run, with its files behind the proxy
    info = published.model_info
    logged = client.get_logged_model(info.model_id)
    assert logged.source_run_id == first
    assert logged.name == MODEL_ARTIFACT
    assert logged.artifact_location.startswith("mlflow-artifacts:/")
    files = {item.path for item in client.list_logged_model_artifacts(info.model_id)}
    assert {"MLmodel", "requirements.txt", "code", "artifacts"} <= files
    assert len(list(mlflow_server.artifacts.rglob("forecaster.pkl"))) == 1

    # the registry: version 1 of the run, challenger first, then champion
    assert int(info.registered_model_version) == 1
    assert published.challenger_before_promotion is not None
    assert published.challenger_before_promotion.version == 1
    assert published.previous_champion is None
    registry = published.tracking.registry()
    champion = registry.champion()
    assert champion is not None
    assert (champion.version, champion.run_id, champion.aliases) == (1, first, ("champion",))
    assert registry.challenger() is None
    assert [v.version for v in registry.versions()] == [1]


def test_champion_loads_and_predicts_in_a_fresh_process(
    published: Published, mlflow_server: Server, trained: Trained, tmp_path: Path
) -> None:
    """``models:/<name>@champion`` loads through the server in a new interpreter (the only
    setting: MLFLOW_TRACKING_URI) and forecasts the weeks after a history that goes past the
    training data, as the forecaster does in this process."""
    uri = f"models:/{published.model_name}@champion"
    signature = mlflow.models.get_model_info(uri).signature
    assert signature.inputs.input_names()[:4] == ["unique_id", "ds", "y", "category"]
    assert {p.name: p.default for p in signature.params.params} == {
        "horizon": trained.spec.horizon,
        "output": "steps",
    }

    frame = ml.features_frame(trained.series, trained.categories)
    features = tmp_path / "features.parquet"
    frame.to_parquet(features, index=False)
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update({"MLFLOW_TRACKING_URI": mlflow_server.url, "OMP_WAIT_POLICY": "PASSIVE"})
    done = subprocess.run(
        [sys.executable, "-c", PREDICT_CODE, uri, str(features), str(SHORT_HORIZON)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\nserver:\n{mlflow_server.output()}"
    # the package came with the model (its code directory), not from this checkout
    package = Path(done.stdout.strip().splitlines()[-1])
    assert package.parts[-2:] == ("forecast_pipeline", "__init__.py")
    assert package.parent.parent.name == "code"
    assert not package.is_relative_to(Path(ml.__file__).resolve().parents[2])

    steps = pd.read_parquet(tmp_path / "steps.parquet")
    windows = pd.read_parquet(tmp_path / "windows.parquet")
    short = pd.read_parquet(tmp_path / "short.parquet")
    expected = trained.forecaster.forecast_features(frame)
    expected_short = trained.forecaster.forecast_features(frame, horizon=SHORT_HORIZON)
    # the global model is not refitted and the per-series models are refitted deterministically
    # on the same history, so both processes agree up to floating-point noise
    for got, want in (
        (steps, expected.steps),
        (windows, expected.windows),
        (short, expected_short.steps),
    ):
        pd.testing.assert_frame_equal(
            got, want.reset_index(drop=True), check_dtype=False, rtol=1e-6
        )
    assert set(short["step"]) == set(range(1, SHORT_HORIZON + 1))

    # the forecast starts the week after the new history, later than the training data
    last_week = trained.series["ds"].max()
    assert last_week > trained.forecaster.training_end
    assert steps["ds"].min() == last_week + pd.Timedelta(weeks=1)
    assert set(steps["step"]) == set(range(1, trained.spec.horizon + 1))
    assert set(steps["level"]) == set(ml.LEVELS)
    assert set(steps.loc[steps["level"] == "product", "unique_id"]) == set(frame["unique_id"])
    assert not windows.empty and set(windows["level"]) == set(ml.LEVELS)
