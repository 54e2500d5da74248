"""The response cache follows the published run: a new publication is served within seconds
(LISTEN/NOTIFY), old ETags stop matching, and no response ever mixes two runs. Also what the
API does before the first publication, after a notification is lost, and after the database
dropped its connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.rows import dict_row

from forecast_pipeline.api import keys
from forecast_pipeline.api.runs import LATEST_RUN_SQL
from forecast_pipeline.warehouse import databases
from forecast_pipeline.warehouse.publishing import TOP_PRODUCT_COLUMNS
from forecast_pipeline_tests.api.sample import (
    CATEGORIES,
    WEEK,
    Run,
    Warehouse,
    plan_run,
    publish,
    publish_run,
    seed_warehouse,
)
from forecast_pipeline_tests.api.serving import serve

V1 = "/api/v1"
SWITCH_SECONDS = 5.0


def _check_envelope(body: dict, run: Run) -> None:
    assert {k: body[k] for k in run.envelope()} == run.envelope()


def _check_top(body: dict, run: Run) -> None:
    _check_envelope(body, run)
    assert body["data"] == run.top("month")


def _check_categories(body: dict, run: Run) -> None:
    _check_envelope(body, run)
    assert body["data"] == [run.outlook("month", c) for c in CATEGORIES]
    assert body["total_outlook"] == run.outlook("month", "total")


def _check_trends(body: dict, run: Run) -> None:
    _check_envelope(body, run)
    assert body["history"] == run.history("dairy")[-8:]
    assert body["forecast"] == run.forecast("dairy")[:8]


# each endpoint and how to check that a body is exactly one run's
ENDPOINTS: dict[str, Callable[[dict, Run], None]] = {
    "/forecast/top-products?time_period=month": _check_top,
    "/forecast/categories": _check_categories,
    "/forecast/trends/dairy?weeks=8": _check_trends,
}


def _wait_for_run(client: TestClient, headers: dict, run_id: str) -> float:
    """Seconds until the API serves ``run_id`` (fails after SWITCH_SECONDS)."""
    started = time.monotonic()
    while time.monotonic() - started < SWITCH_SECONDS:
        response = client.get(f"{V1}/forecast/model-info", headers=headers)
        if response.headers.get("x-forecast-run") == run_id:
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"the API did not serve run {run_id} within {SWITCH_SECONDS} s")


def test_a_new_run_replaces_the_cached_responses(fresh_published: Warehouse) -> None:
    old = fresh_published.run
    headers = {"X-API-Key": fresh_published.key}
    planned = plan_run("run-2", WEEK + timedelta(weeks=1), scale=1.5)
    runs: dict[str, Run] = {old.run_id: old, planned.run_id: planned}
    published = threading.Event()
    failures: list[BaseException] = []

    def publish_later() -> None:
        try:
            time.sleep(0.3)  # while the reader below is busy
            publish(fresh_published.url, planned)
        except BaseException as error:  # reported by the test below
            failures.append(error)
        finally:
            published.set()

    with serve(fresh_published.api_url, run_poll_seconds=60) as client:
        before = {}
        for path, check in ENDPOINTS.items():
            response = client.get(f"{V1}{path}", headers=headers)
            assert response.status_code == 200
            assert response.headers["x-forecast-run"] == old.run_id
            check(response.json(), old)
            before[path] = response
            held = {**headers, "If-None-Match": response.headers["etag"]}
            assert client.get(f"{V1}{path}", headers=held).status_code == 304

        publisher = threading.Thread(target=publish_later)
        publisher.start()
        served: dict[str, set[str]] = {path: set() for path in ENDPOINTS}
        deadline = None
        while True:
            # every response, before, during and after the publication, is one run's rows
            for path, check in ENDPOINTS.items():
                response = client.get(f"{V1}{path}", headers=headers)
                assert response.status_code == 200
                run_id = response.headers["x-forecast-run"]
                check(response.json(), runs[run_id])
                assert not ("run-2" in served[path] and run_id != "run-2"), "went back"
                served[path].add(run_id)
            if published.is_set():
                assert not failures, failures
                deadline = deadline or time.monotonic() + SWITCH_SECONDS
                if all("run-2" in ids for ids in served.values()):
                    break
                assert time.monotonic() < deadline, f"not switched to run-2: {served}"
            time.sleep(0.02)
        publisher.join()

        new = runs["run-2"]
        assert new.run.partition_key == "2026-11-16"
        for path, check in ENDPOINTS.items():
            # the old ETag does not match any more: the new run's body, with a new ETag
            old_etag = before[path].headers["etag"]
            response = client.get(f"{V1}{path}", headers={**headers, "If-None-Match": old_etag})
            assert response.status_code == 200
            assert response.headers["x-forecast-run"] == "run-2"
            assert response.headers["etag"] != old_etag
            assert response.content != before[path].content
            check(response.json(), new)
            assert response.json()["forecast_week"] == "2026-11-16"
            held = {**headers, "If-None-Match": response.headers["etag"]}
            assert client.get(f"{V1}{path}", headers=held).status_code == 304
        # the figures are the new run's: 1.5 times the old ones
        top = client.get(f"{V1}/forecast/top-products", headers=headers).json()
        assert top["data"][0]["predicted_units"] == new.top("week")[0]["predicted_units"]
        assert new.top("week")[0]["predicted_units"] == 1.5 * old.top("week")[0]["predicted_units"]
        # the run-level views follow too
        health = client.get(f"{V1}/health").json()
        assert health["latest_run"]["run_id"] == "run-2"
        statistics = client.get(f"{V1}/data/statistics", headers=headers).json()
        assert statistics["latest_run"]["forecast_week"] == "2026-11-16"


def test_a_rerun_of_the_week_supersedes_the_served_run(fresh_published: Warehouse) -> None:
    headers = {"X-API-Key": fresh_published.key}
    with serve(fresh_published.api_url, run_poll_seconds=60) as client:
        first = client.get(f"{V1}/forecast/categories", headers=headers)
        assert first.headers["x-forecast-run"] == "run-1"

        rerun = publish_run(fresh_published.url, "run-1b", WEEK, scale=2.0)
        _wait_for_run(client, headers, "run-1b")

        response = client.get(
            f"{V1}/forecast/categories",
            headers={**headers, "If-None-Match": first.headers["etag"]},
        )
        assert response.status_code == 200
        assert response.headers["x-forecast-run"] == "run-1b"
        _check_categories(response.json(), rerun)
        assert response.json()["forecast_week"] == WEEK.isoformat()  # the same week


def test_before_the_first_publication_forecasts_are_404(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        _, key = keys.create_key(conn, "early bird")
    headers = {"X-API-Key": key}
    api_url = databases.with_database(warehouse_url, user=databases.API_ROLE)
    with serve(api_url) as client:
        for path in [*ENDPOINTS, "/forecast/model-info"]:
            response = client.get(f"{V1}{path}", headers=headers)
            assert response.status_code == 404
            assert response.json() == {"detail": "no forecast has been published yet"}
        health = client.get(f"{V1}/health").json()
        assert (health["status"], health["latest_run"]) == ("ok", None)
        statistics = client.get(f"{V1}/data/statistics", headers=headers).json()
        assert (statistics["latest_run"], statistics["products"]) == (None, 0)

        sample = seed_warehouse(warehouse_url)  # the first publication

        _wait_for_run(client, headers, "run-1")
        response = client.get(f"{V1}/forecast/top-products", headers=headers)
        assert response.status_code == 200
        assert response.json()["data"] == sample.run.top("week")


def _copy_run_silently(url: str, source: str, run_id: str, weeks_later: int) -> None:
    """A run published by hand (psql), without the notification: the run record and its top
    products, copied from ``source`` and moved ``weeks_later`` weeks on."""
    columns = ", ".join(TOP_PRODUCT_COLUMNS[1:])
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO forecasts.forecast_runs (run_id, partition_key, forecast_week, origin, "
            "model_name, model_version, mlflow_run_id, dagster_run_id, data_start, data_end, "
            "horizon_weeks, n_products) "
            "SELECT %(run)s, to_char(forecast_week + 7 * %(w)s, 'YYYY-MM-DD'), "
            "forecast_week + 7 * %(w)s, origin + 7 * %(w)s, model_name, model_version, "
            "mlflow_run_id, dagster_run_id, data_start, data_end + 7 * %(w)s, horizon_weeks, "
            "n_products FROM forecasts.forecast_runs WHERE run_id = %(source)s",
            {"run": run_id, "w": weeks_later, "source": source},
        )
        conn.execute(
            f"INSERT INTO forecasts.top_products (run_id, {columns}) "
            f"SELECT %s, {columns} FROM forecasts.top_products WHERE run_id = %s",
            (run_id, source),
        )


def test_a_run_without_notification_is_found_by_the_poll(fresh_published: Warehouse) -> None:
    headers = {"X-API-Key": fresh_published.key}
    with serve(fresh_published.api_url, run_poll_seconds=0.5) as client:
        assert client.get(f"{V1}/forecast/top-products", headers=headers).status_code == 200

        _copy_run_silently(fresh_published.url, "run-1", "run-silent", weeks_later=2)

        assert _wait_for_run(client, headers, "run-silent") < 2.0
        body = client.get(f"{V1}/forecast/top-products", headers=headers).json()
        assert body["forecast_week"] == (WEEK + timedelta(weeks=2)).isoformat()
        assert body["data"] == fresh_published.run.top("week")  # the copied rows


def _api_backends(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.cursor(row_factory=dict_row)
        return cursor.execute(
            "SELECT pid, query FROM pg_stat_activity "
            "WHERE usename = 'forecast_api' AND datname = current_database()"
        ).fetchall()


def _terminate(url: str, pids: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _listener(url: str) -> int:
    """The tracker's listening backend (the pool's last ran the endpoints' queries)."""
    started = time.monotonic()
    while time.monotonic() - started < SWITCH_SECONDS:
        found = [
            b["pid"]
            for b in _api_backends(url)
            if b["query"].startswith("LISTEN") or b["query"] == LATEST_RUN_SQL
        ]
        if len(found) == 1:
            return found[0]
        time.sleep(0.05)
    pytest.fail("the run tracker is not listening")


def test_the_run_tracker_reconnects_and_catches_up(fresh_published: Warehouse) -> None:
    """Its listening connection dropped (and the notification of a publication lost with it):
    the tracker reconnects and re-reads the latest run, well before the 60 s poll."""
    headers = {"X-API-Key": fresh_published.key}
    with serve(fresh_published.api_url, run_poll_seconds=60) as client:
        assert client.get(f"{V1}/forecast/model-info", headers=headers).status_code == 200
        listener = _listener(fresh_published.url)

        _terminate(fresh_published.url, [listener])
        publish_run(fresh_published.url, "run-2", WEEK + timedelta(weeks=1), scale=1.5)

        _wait_for_run(client, headers, "run-2")
        assert listener not in {b["pid"] for b in _api_backends(fresh_published.url)}


def test_requests_survive_dropped_database_connections(fresh_published: Warehouse) -> None:
    headers = {"X-API-Key": fresh_published.key}
    url = fresh_published.url
    with serve(fresh_published.api_url, raise_server_exceptions=False) as client:
        assert client.get(f"{V1}/data/categories", headers=headers).status_code == 200

        _terminate(url, [b["pid"] for b in _api_backends(url)])  # a failover, a restart
        time.sleep(0.3)

        statuses = [
            client.get(f"{V1}/data/categories", headers=headers).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 200]


def _allow_connections(server_url: str, database: str, allow: bool) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(database), sql.Literal(allow)
            )
        )


def test_health_is_503_while_the_database_refuses_connections(
    fresh_published: Warehouse, pg_server_url: str
) -> None:
    url = fresh_published.url
    with psycopg.connect(url) as conn:
        (name,) = conn.execute("SELECT current_database()").fetchone()
    with serve(fresh_published.api_url, raise_server_exceptions=False) as client:
        assert client.get(f"{V1}/health").status_code == 200
        try:
            _allow_connections(pg_server_url, name, False)
            with psycopg.connect(pg_server_url, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND usename = 'forecast_api'",
                    (name,),
                )

            for _ in range(2):
                response = client.get(f"{V1}/health")
                assert response.status_code == 503
                body = response.json()
                assert (body["status"], body["database"]) == ("unavailable", "unreachable")
                assert body["latest_run"]["run_id"] == "run-1"  # still the served run
        finally:
            _allow_connections(pg_server_url, name, True)

        started = time.monotonic()
        while client.get(f"{V1}/health").status_code != 200:
            assert time.monotonic() - started < 15, "the API did not recover"
            time.sleep(0.2)
