"""The acceptance scenario of monitoring: sales shift abruptly under a fixed champion, and the
drift checks fail within the configured number of weeks (real Dagster runs, Postgres, MLflow)."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import psycopg
import pytest

from forecast_pipeline.definitions import build_definitions
from forecast_pipeline.defs.resources import LocalLandingZone
from forecast_pipeline.deployments import Deployment
from forecast_pipeline.sample import SampleConfig
from forecast_pipeline.scenario import ShiftScenario, run_shift_scenario

pytestmark = pytest.mark.slow

TRAINED = date(2026, 8, 31)
SHIFT = TRAINED + timedelta(weeks=3)
ESCALATE_AFTER = 2
SCENARIO = ShiftScenario(
    sample=SampleConfig(
        seed=3, n_categories=3, n_products=18, n_stores=1, end=TRAINED + timedelta(weeks=6, days=6)
    ),
    trained_week=TRAINED,
    shift_week=SHIFT,
    factor=0.4,
    weeks_after=6,
)
POLICY = {"error_window_weeks": 2, "escalate_after_weeks": ESCALATE_AFTER}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, make_database, pg_server_url: str):
    from sqlalchemy import make_url

    from forecast_pipeline.local_stack import local_environment
    from forecast_pipeline.settings import PlatformSettings
    from forecast_pipeline.warehouse import migrate

    root = tmp_path_factory.mktemp("drift")
    warehouse_url = make_database()
    migrate.upgrade(warehouse_url)
    settings = PlatformSettings(
        home=root,
        warehouse_db=make_url(warehouse_url).database,
        # a registry of its own: the session's MLflow store holds other tests' champions
        mlflow_db=make_url(make_database("fp_mlflow")).database,
    )
    env = local_environment(settings, pg_server_url)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        defs = build_definitions(Deployment.LOCAL)
        landing = LocalLandingZone(root=str(settings.landing_dir), settle_seconds=0)
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_shift_scenario(
                SCENARIO,
                defs,
                instance,
                landing,
                settings.landing_dir,
                forecast_config={"backtest_windows": 2, "horizon_weeks": 13},
                tuning_config={"n_trials": 1, "max_series": 10},
                monitoring_policy=POLICY,
            )
            accuracy = instance.get_latest_materialization_event(
                dg.AssetKey(["monitoring", "realised_accuracy"])
            )
        yield {"result": result, "warehouse_url": warehouse_url, "accuracy": accuracy}


def test_error_drift_fails_within_the_configured_weeks_of_the_shift(scenario) -> None:
    error = scenario["result"].error_drift
    before = [week for week in error if date.fromisoformat(week) < SHIFT]
    after = [week for week in error if date.fromisoformat(week) >= SHIFT]
    assert before and all(not error[week].failed for week in before), {
        week: error[week].description for week in before
    }
    window = after[:ESCALATE_AFTER]
    assert any(error[week].failed for week in window), {
        week: error[week].description for week in after
    }
    first = next(week for week in after if error[week].failed)
    assert "error drift: product WAPE" in error[first].description
    assert error[first].metadata["product_ratio"] > 1
    assert error[first].metadata["verdict"] == "fail"
    assert error[first].metadata["model"].startswith("forecast_pipeline_ensemble v1, trained on")


def test_input_drift_sees_the_shift_in_the_units(scenario) -> None:
    drift = scenario["result"].input_drift
    before = [w for w in drift if date.fromisoformat(w) < SHIFT]
    last = drift[max(drift)]
    assert all(drift[w].passed for w in before), {w: drift[w].description for w in before}
    assert not last.passed and last.metadata["max_psi_feature"] == "log_units"
    assert last.metadata["psi_log_units"] >= 0.25


def test_realised_accuracy_rows_and_views(scenario) -> None:
    with psycopg.connect(scenario["warehouse_url"]) as conn:
        weeks = conn.execute(
            "SELECT target_week, count(DISTINCT run_id), min(horizon), max(horizon) "
            "FROM forecasts.realised_accuracy WHERE level = 'product' "
            "GROUP BY target_week ORDER BY target_week"
        ).fetchall()
        by_run = conn.execute(
            "SELECT forecast_week, weeks_scored, wape FROM analytics.forecast_accuracy "
            "WHERE level = 'total' ORDER BY forecast_week"
        ).fetchall()
    # week k after training is forecast by the k runs published before it
    assert [(w, n, lo, hi) for w, n, lo, hi in weeks] == [
        (TRAINED + timedelta(weeks=k), k, 1, k) for k in range(1, SCENARIO.weeks_after + 1)
    ]
    assert by_run[0][0] == TRAINED and by_run[0][1] == SCENARIO.weeks_after
    materialization = scenario["accuracy"].asset_materialization
    assert materialization.partition == str(TRAINED + timedelta(weeks=SCENARIO.weeks_after))
    chart = materialization.metadata["accuracy_over_time"].value
    assert chart.startswith("![chart](data:image/png;base64,")
    assert materialization.metadata["runs_scored"].value == SCENARIO.weeks_after
