"""The whole asset graph on a small generated sample: files in, analytics views and API out."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient

from forecast_pipeline.api.app import create_app
from forecast_pipeline.api.settings import ApiSettings
from forecast_pipeline.definitions import build_definitions
from forecast_pipeline.defs.resources import LocalLandingZone
from forecast_pipeline.demo import table_row_counts
from forecast_pipeline.deployments import Deployment
from forecast_pipeline.runner import run_pipeline
from forecast_pipeline.sample import SampleConfig, write_sales_uploads
from forecast_pipeline.warehouse import databases, sales

pytestmark = pytest.mark.slow

SAMPLE = SampleConfig(seed=3, n_categories=3, n_products=18, n_stores=1)
FORECAST_RUN_CONFIG = {"backtest_windows": 2}
PUBLISH_RUN_CONFIG = {"top_n": 3}
TUNING_RUN_CONFIG = {"n_trials": 2, "max_series": 10}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, make_database, mlflow_tracking_uri: str):
    """Runs the whole graph twice on the same landing zone; yields what the runs produced."""
    from forecast_pipeline.warehouse import migrate

    root = tmp_path_factory.mktemp("platform")
    warehouse_url = make_database()
    migrate.upgrade(warehouse_url)
    env = {
        "FORECAST_WAREHOUSE_URL": warehouse_url,
        "MLFLOW_TRACKING_URI": mlflow_tracking_uri,
        "FORECAST_MLFLOW_ARTIFACTS": (root / "lake" / "mlflow-artifacts").as_uri(),
        "FORECAST_LAKE_ROOT": str(root / "lake"),
        "FORECAST_LANDING_DIR": str(root / "landing"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        files = write_sales_uploads(root / "landing", SAMPLE)
        defs = build_definitions(Deployment.LOCAL)
        landing = LocalLandingZone(root=str(root / "landing"), settle_seconds=0)

        def last_sale() -> date:
            with psycopg.connect(warehouse_url) as conn:
                span = sales.sales_date_range(conn)
            assert span is not None
            return span[1]

        with dg.DagsterInstance.ephemeral() as instance:
            first = run_pipeline(
                defs,
                instance,
                landing,
                last_sale,
                forecast_config=FORECAST_RUN_CONFIG,
                tuning_config=TUNING_RUN_CONFIG,
                publish_config=PUBLISH_RUN_CONFIG,
            )
            with psycopg.connect(warehouse_url) as conn:
                first_counts = table_row_counts(conn)
            second = run_pipeline(
                defs,
                instance,
                landing,
                last_sale,
                forecast_config=FORECAST_RUN_CONFIG,
                tuning_config=TUNING_RUN_CONFIG,
                publish_config=PUBLISH_RUN_CONFIG,
            )
            week = first.week
            sensor_requests = _sensor_requests(instance)
            with psycopg.connect(warehouse_url) as conn:
                second_counts = table_row_counts(conn)
            metadata = {
                "/".join(key): _latest_metadata(instance, key, week)
                for key in (
                    ["models", "tuned_params"],
                    ["models", "backtest"],
                    ["models", "ensemble"],
                    ["models", "challenger"],
                    ["forecasts", "product_forecasts"],
                )
            }
        yield {
            "metadata": metadata,
            "files": files,
            "warehouse_url": warehouse_url,
            "root": root,
            "week": week,
            "second_week": second.week,
            "first_uploads": first.ingested,
            "second_uploads": second.ingested,
            "first": first,
            "sensor_requests": sensor_requests,
            "second": second,
            "first_counts": first_counts,
            "second_counts": second_counts,
            "mlflow_tracking_uri": mlflow_tracking_uri,
        }


def _sensor_requests(instance: dg.DagsterInstance) -> list[tuple[str, object]]:
    """What the publish sensors request for each training run, oldest run first."""
    from forecast_pipeline.defs.forecasting.jobs import (
        publish_after_failed_training,
        publish_after_training,
    )

    out = []
    runs = instance.get_runs(dg.RunsFilter(job_name="weekly_training_job"))
    for run in reversed(runs):
        ended = dg.DagsterEventType.RUN_SUCCESS
        if run.status == dg.DagsterRunStatus.FAILURE:
            ended = dg.DagsterEventType.RUN_FAILURE
        event = instance.get_records_for_run(run.run_id, of_type=ended).records[-1]
        context = dg.build_run_status_sensor_context(
            sensor_name="publish",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=event.event_log_entry.dagster_event,
        )
        if ended == dg.DagsterEventType.RUN_SUCCESS:
            result = publish_after_training(context)
        else:
            result = publish_after_failed_training(context.for_run_failure())
        out.append((run.status.value, result))
    return out


def _latest_metadata(instance: dg.DagsterInstance, key: list[str], partition: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    assert event is not None and event.asset_materialization is not None, key
    assert event.asset_materialization.partition == partition
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_weekly_assets_show_tuning_leaderboards_and_charts(published) -> None:
    """What a data engineer sees in the UI for the weekly partition."""
    meta = published["metadata"]
    tuning = meta["models/tuned_params"]
    assert tuning["lightgbm_best_wape"] <= tuning["lightgbm_default_wape"]
    trials = tuning["lightgbm_trials"].splitlines()
    assert "number" in trials[0] and "learning_rate" in trials[0]
    assert len(trials) == 2 + TUNING_RUN_CONFIG["n_trials"]  # header, rule, one row per trial
    ensemble = meta["models/ensemble"]
    for level in ("product", "category", "total"):
        assert "ensemble" in ensemble[f"leaderboard_{level}"]
    assert ensemble["leaderboard_chart"].startswith("![chart](data:image/png;base64,")
    assert 0 < ensemble["coverage_80_product"] <= ensemble["coverage_95_product"] <= 1
    assert "prophet" in ensemble["weights"]
    assert "category" in meta["models/backtest"]["leaderboard"]
    chart = meta["forecasts/product_forecasts"]["largest_categories"]
    assert chart.startswith("![chart](data:image/png;base64,")
    assert meta["forecasts/product_forecasts"]["registered_model"] == "forecast_pipeline_ensemble"
    assert meta["forecasts/product_forecasts"]["champion_version"] == 1
    challenger = meta["models/challenger"]
    assert challenger["version"] == 2  # the second run registered a second version
    assert "lightgbm" in challenger["members"] and "prophet" in challenger["members"]
    assert "lag1" in challenger["top_features"]


def test_every_finished_training_requests_the_publish_run_of_its_week(published) -> None:
    requests = published["sensor_requests"]
    assert [status for status, _ in requests] == ["SUCCESS", "FAILURE"]
    for _, request in requests:
        assert isinstance(request, dg.RunRequest)
        assert request.partition_key == published["week"]
        assert request.run_key.startswith("publish-after-")
    assert len({r.run_key for _, r in requests}) == 2


def test_every_file_is_ingested_once(published) -> None:
    assert len(published["first_uploads"]) == len(published["files"]) >= 4
    assert published["second_uploads"] == []
    with psycopg.connect(published["warehouse_url"]) as conn:
        statuses = conn.execute(
            "SELECT status, count(*), sum(rows_read), sum(rows_accepted + rows_rejected) "
            "FROM warehouse.uploads GROUP BY status"
        ).fetchall()
        history = conn.execute("SELECT count(*) FROM warehouse.sales_history").fetchone()
    assert [(s[0], s[1]) for s in statuses] == [("merged", len(published["files"]))]
    _, _, rows_read, accounted = statuses[0]
    assert rows_read == accounted
    assert history is not None and history[0] == rows_read  # the sample has no bad rows


def test_top_products_view_has_every_category_and_period(published) -> None:
    with psycopg.connect(published["warehouse_url"]) as conn:
        rows = conn.execute(
            "SELECT time_period, category, count(*), min(rank), max(rank), "
            "bool_and(predicted_units >= 0) FROM analytics.top_products "
            "GROUP BY time_period, category ORDER BY 1, 2"
        ).fetchall()
    assert {r[0] for r in rows} == {"week", "month", "year"}
    assert len({r[1] for r in rows}) == SAMPLE.n_categories
    assert all(r[2] == 3 and r[3] == 1 and r[4] == 3 and r[5] for r in rows)


def test_backtest_figures_for_every_model_and_the_ensemble(published) -> None:
    with psycopg.connect(published["warehouse_url"]) as conn:
        rows = conn.execute(
            "SELECT model_name, level, wape, coverage_80, coverage_95 "
            "FROM analytics.backtest_leaderboard WHERE forecast_week = %s",
            (published["week"],),
        ).fetchall()
        run = conn.execute(
            "SELECT model_name, model_version, mlflow_run_id FROM analytics.latest_forecast_run"
        ).fetchone()
        cold = conn.execute(
            "SELECT count(*) FILTER (WHERE cold_start), count(*) FROM forecasts.product_forecasts"
        ).fetchone()
    models = {r[0] for r in rows}
    assert models == {
        "seasonal_naive", "moving_average", "tsb", "lightgbm", "xgboost", "auto_ets", "prophet",
        "ensemble",
    }  # fmt: skip
    assert {r[1] for r in rows} == {"product", "category", "total"}
    assert all(0 < r[2] < 5 for r in rows)
    ensemble = [r for r in rows if r[0] == "ensemble"]
    assert len(ensemble) == 3
    assert all(0 < r[3] <= r[4] <= 1 for r in ensemble)
    assert all(r[3] is None for r in rows if r[0] != "ensemble")
    assert cold is not None and cold[1] > 0
    assert run is not None and run[:2] == ("forecast_pipeline_ensemble", "1")
    mlflow.set_tracking_uri(published["mlflow_tracking_uri"])
    logged = mlflow.get_run(run[2])
    tags = logged.data.tags
    assert tags["dagster.partition"] == published["week"]
    assert tags["dagster.job"] == "weekly_training_job"
    assert tags["training_window.end"] < tags["forecast_origin"]
    assert tags["code_version"]
    assert "ensemble.product.wape" in logged.data.metrics
    assert "prophet.category.mase" in logged.data.metrics
    weights = {k: v for k, v in logged.data.metrics.items() if k.startswith("weight.product.")}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    trials = mlflow.MlflowClient().get_metric_history(run[2], "tuning.lightgbm.trial_wape")
    assert sorted(m.step for m in trials) == list(range(TUNING_RUN_CONFIG["n_trials"]))
    artifacts = _artifact_paths(run[2])
    assert {
        "backtest/product.csv",
        "backtest/metrics_by_cutoff.csv",
        "backtest/leaderboard.png",
        "ensemble/weights.csv",
        "tuning/lightgbm_trials.csv",
        "features/importances.csv",
        "features/lightgbm_importance.png",
    } <= artifacts


def _artifact_paths(run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in mlflow.MlflowClient().list_artifacts(run_id, path):
        found |= _artifact_paths(run_id, item.path) if item.is_dir else {item.path}
    return found


def test_first_training_is_promoted_and_an_equal_retraining_stays_challenger(published) -> None:
    first, second = published["first"].trainings[-1], published["second"].trainings[-1]
    assert first.promoted and first.reason.startswith("promoted")
    assert not second.promoted
    assert second.reason.startswith("kept as challenger")
    assert "not 1% better than champion v1" in second.reason
    reader_url = databases.with_database(published["warehouse_url"], user="forecast_reader")
    with psycopg.connect(reader_url) as conn:
        history = conn.execute(
            "SELECT version, decision, previous_champion_version, challenger_value, "
            "champion_value, baseline_model, baseline_value, reason, decided_by "
            "FROM analytics.model_promotions ORDER BY decided_at"
        ).fetchall()
    assert [(h[0], h[1], h[2]) for h in history] == [
        (1, "promoted", None),
        (2, "kept_challenger", 1),
    ]
    promoted, kept = history
    assert promoted[4] is None and promoted[3] <= 0.99 * promoted[6]  # beat the best baseline
    assert kept[3] > 0.99 * kept[4]  # not 1% better than the champion
    assert kept[7] == second.reason and kept[8] == "promotion_gate"
    mlflow.set_tracking_uri(published["mlflow_tracking_uri"])
    client = mlflow.MlflowClient()
    name = "forecast_pipeline_ensemble"
    assert int(client.get_model_version_by_alias(name, "champion").version) == 1
    assert int(client.get_model_version_by_alias(name, "challenger").version) == 2
    assert {v.current_stage for v in client.search_model_versions(f"name = '{name}'")} == {"None"}


def test_second_run_duplicates_nothing(published) -> None:
    assert published["second_week"] == published["week"]
    assert published["second_counts"] == published["first_counts"]
    assert published["first_counts"]["forecasts.forecast_runs"] == 1
    with psycopg.connect(published["warehouse_url"]) as conn:
        runs = conn.execute(
            "SELECT status, count(*) FROM forecasts.forecast_runs GROUP BY 1 ORDER BY 1"
        ).fetchall()
        partitions = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'forecasts.product_forecasts'::regclass"
        ).fetchall()
    assert runs == [("published", 1), ("superseded", 1)]  # the re-run replaced the first
    assert partitions == [(f"product_forecasts_w{published['week'].replace('-', '')}",)]


def test_lake_holds_raw_copies_and_exports(published) -> None:
    lake = published["root"] / "lake"
    raw = sorted(p.name for p in (lake / "raw" / "sales").rglob("*.csv"))
    assert raw == sorted(p.name for p in published["files"])
    for original in published["files"]:
        copy = next((lake / "raw" / "sales").rglob(original.name))
        assert copy.read_bytes() == Path(original).read_bytes()
    exports = sorted(
        p.relative_to(lake / "exports").as_posix() for p in (lake / "exports").rglob("*.parquet")
    )
    week = published["week"]
    assert exports == [
        f"{table}/forecast_week={week}/part-0.parquet"
        for table in ("category_forecasts", "category_outlook", "product_forecasts", "top_products")
    ]


def test_features_hold_the_indicator_changes_known_at_the_origin(published) -> None:
    week = published["week"]
    features = pd.read_parquet(
        published["root"]
        / "lake"
        / "features"
        / "weekly_sales"
        / f"week={week}"
        / "indicators.parquet"
    ).set_index("ds")
    origin = pd.Timestamp(week) + pd.Timedelta(days=7)
    year_before = origin - pd.Timedelta(weeks=52)
    query = (
        "SELECT DISTINCT ON (series_id) series_id, value FROM warehouse.indicator_observations "
        "WHERE published_date <= %s AND value IS NOT NULL "
        "ORDER BY series_id, observation_date DESC, published_date DESC"
    )
    with psycopg.connect(published["warehouse_url"]) as conn:
        now = dict(conn.execute(query, (origin.date(),)).fetchall())
        then = dict(conn.execute(query, (year_before.date(),)).fetchall())
    assert len(now) == 8
    for series_id, value in now.items():
        column = "ind_" + "".join(c if c.isalnum() else "_" for c in series_id) + "_yoy"
        expected = value / then[series_id] - 1
        assert features.loc[origin, column] == pytest.approx(expected), series_id


def test_api_serves_the_published_run_with_an_api_key(published) -> None:
    from forecast_pipeline.api.keys import create_key

    with psycopg.connect(published["warehouse_url"]) as conn:
        _, key = create_key(conn, "whole-graph test")
    api_url = databases.with_database(published["warehouse_url"], user=databases.API_ROLE)
    app = create_app(ApiSettings(database_url=api_url, pool_min_size=1, pool_max_size=2))
    with TestClient(app, headers={"X-API-Key": key}) as client:
        response = client.get("/api/v1/forecast/top-products", params={"time_period": "month"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["time_period"] == "month"
        assert body["forecast_week"] == published["week"]
        assert body["count"] == 3 * SAMPLE.n_categories
        first = body["data"][0]
        assert first["rank"] == 1 and first["trend"] in {"up", "down", "flat"}
        assert first["action"] in {"stock_up", "hold", "reduce"}
        trend = client.get(f"/api/v1/forecast/trends/{first['category']}", params={"weeks": 8})
        assert trend.status_code == 200, trend.text
        assert len(trend.json()["history"]) == 8 and len(trend.json()["forecast"]) == 8
        info = client.get("/api/v1/forecast/model-info").json()
        assert info["model_version"] == "1" and info["training_week"] == published["week"]
        assert {row["level"] for row in info["backtest"]} == {"product", "category", "total"}

        category = first["category"]
        one = client.get(
            "/api/v1/forecast/top-products", params={"category": category, "limit": 2}
        ).json()
        assert [row["rank"] for row in one["data"]] == [1, 2]
        assert {row["category"] for row in one["data"]} == {category}

        missing = client.get("/api/v1/forecast/top-products", params={"category": "Nope"})
        assert missing.status_code == 404
        assert "unknown category" in missing.json()["detail"]
        bad = client.get("/api/v1/forecast/top-products", params={"time_period": "decade"})
        assert bad.status_code == 422
        too_many = client.get("/api/v1/forecast/top-products", params={"limit": 1000})
        assert too_many.status_code == 422


def test_category_outlook_and_top_products_answer_the_merchants_questions(published) -> None:
    reader_url = databases.with_database(published["warehouse_url"], user="forecast_reader")
    with psycopg.connect(reader_url) as conn:
        outlook = conn.execute(
            "SELECT level, category, time_period, predicted_units, lower_80, upper_80, "
            "lower_95, upper_95, previous_units, trend FROM analytics.category_outlook"
        ).fetchall()
        weekly = conn.execute(
            "SELECT level, count(DISTINCT category), count(*), min(step), max(step) "
            "FROM analytics.category_forecasts GROUP BY level ORDER BY level"
        ).fetchall()
        top = conn.execute(
            "SELECT action, count(*), count(predicted_revenue), "
            "bool_and(predicted_revenue IS NULL OR "
            "abs(predicted_revenue - predicted_units * unit_price) < 1e-6) "
            "FROM analytics.top_products GROUP BY action"
        ).fetchall()
    assert {(r[0], r[2]) for r in outlook} >= {("total", p) for p in ("week", "month", "year")}
    assert len(outlook) == 3 * (SAMPLE.n_categories + 1)
    for _, _, _, units, lo80, hi80, lo95, hi95, previous, trend in outlook:
        assert lo95 <= lo80 <= units <= hi80 <= hi95 and previous >= 0
        assert trend in {"up", "down", "flat"}
    assert weekly == [("category", SAMPLE.n_categories, SAMPLE.n_categories * 52, 1, 52),
                      ("total", 1, 52, 1, 52)]  # fmt: skip
    assert {r[0] for r in top} <= {"stock_up", "hold", "reduce"}
    assert sum(r[2] for r in top) > 0  # the sample has prices: revenue is known
    assert all(r[3] for r in top)
