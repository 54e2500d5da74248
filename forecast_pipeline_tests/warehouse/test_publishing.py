"""Publishing weekly forecast runs: atomic and idempotent per week, even when the publisher dies
mid-write; the read-only role; weekly partitions and retention.

Readers are checked as ``forecast_reader`` through the ``analytics`` views only, the way BI
tools and the API see the data.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from forecast_pipeline.warehouse import databases
from forecast_pipeline.warehouse.publishing import (
    ForecastRun,
    PublishedTables,
    apply_retention,
    ensure_week_partition,
    partition_name,
    publish_forecast_run,
)
from forecast_pipeline_tests.warehouse.publisher_process import forecast_run, published_tables

log = logging.getLogger(__name__)

WEEK = date(2026, 11, 2)  # a Monday
PRODUCTS, WEEKS = 40, 12  # a small run: 480 product forecasts
REPO_ROOT = Path(__file__).resolve().parents[2]

ANALYTICS_VIEWS = [
    "latest_forecast_run",
    "forecast_runs",
    "product_forecasts",
    "top_products",
    "category_forecasts",
    "category_outlook",
    "forecast_accuracy",
    "realised_accuracy",
    "data_freshness",
    "model_promotions",
    "backtest_leaderboard",
    "category_history",
    "categories",
]

# One statement, so one snapshot: what a reader sees of the latest run at one instant.
READER_STATE = """
SELECT (SELECT run_id FROM analytics.latest_forecast_run),
       (SELECT model_version FROM analytics.latest_forecast_run),
       pf.n, pf.versions, pf.version,
       (SELECT count(*) FROM analytics.top_products),
       (SELECT count(*) FROM analytics.category_forecasts),
       (SELECT count(*) FROM analytics.category_outlook)
FROM (SELECT count(*) AS n, count(DISTINCT model_version) AS versions,
             min(model_version) AS version
      FROM analytics.product_forecasts) pf
"""


@dataclass(frozen=True)
class ReaderState:
    run_id: str | None
    model_version: str | None
    product_rows: int
    product_versions: int
    product_version: str | None
    top_products: int
    category_forecasts: int
    category_outlook: int


def expected_state(run: ForecastRun, tables: PublishedTables) -> ReaderState:
    return ReaderState(
        run.run_id,
        run.model_version,
        len(tables.product_forecasts),
        1,
        run.model_version,
        len(tables.top_products),
        len(tables.category_forecasts),
        len(tables.category_outlook),
    )


def read_state(reader: psycopg.Connection) -> ReaderState:
    return ReaderState(*reader.execute(READER_STATE).fetchone())


def reader_url(url: str) -> str:
    return databases.with_database(url, user=databases.READER_ROLE)


def small_run(
    run_id: str, week: date = WEEK, *, version: str = "1", products: int = PRODUCTS, seed: int = 0
) -> tuple[ForecastRun, PublishedTables]:
    run = forecast_run(run_id, week, products=products, weeks=WEEKS, model_version=version)
    return run, published_tables(week, products=products, weeks=WEEKS, seed=seed)


def publish(url: str, run: ForecastRun, tables: PublishedTables) -> list[str]:
    """As the publishing asset does: the partition in its own transaction, then the run."""
    with psycopg.connect(url) as conn:
        ensure_week_partition(conn, run.forecast_week)
    with psycopg.connect(url) as conn:
        return publish_forecast_run(conn, run, tables)


def runs_by_id(conn: psycopg.Connection) -> dict[str, tuple]:
    return {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT run_id, forecast_week, status, superseded_at IS NOT NULL "
            "FROM forecasts.forecast_runs"
        )
    }


def rows_per_run(conn: psycopg.Connection, table: str) -> dict[str, int]:
    return dict(conn.execute(f"SELECT run_id, count(*) FROM forecasts.{table} GROUP BY run_id"))


def product_rows(conn: psycopg.Connection) -> dict[tuple[date, str], int]:
    return {
        (week, run_id): n
        for week, run_id, n in conn.execute(
            "SELECT forecast_week, run_id, count(*) FROM forecasts.product_forecasts GROUP BY 1, 2"
        )
    }


def test_rerunning_a_week_replaces_its_rows(warehouse_url: str) -> None:
    run_a, tables_a = small_run("run-a", version="7", seed=1)
    run_b, tables_b = small_run("run-b", version="8", products=PRODUCTS + 8, seed=2)
    assert publish(warehouse_url, run_a, tables_a) == []
    assert publish(warehouse_url, run_b, tables_b) == ["run-a"]

    with psycopg.connect(warehouse_url) as conn:
        assert runs_by_id(conn) == {
            "run-a": (WEEK, "superseded", True),
            "run-b": (WEEK, "published", False),
        }
        assert product_rows(conn) == {(WEEK, "run-b"): (PRODUCTS + 8) * WEEKS}
        assert rows_per_run(conn, "top_products") == {"run-b": len(tables_b.top_products)}
        assert rows_per_run(conn, "category_forecasts") == {
            "run-b": len(tables_b.category_forecasts)
        }
        assert rows_per_run(conn, "category_outlook") == {"run-b": len(tables_b.category_outlook)}

    with psycopg.connect(reader_url(warehouse_url), autocommit=True) as reader:
        assert read_state(reader) == expected_state(run_b, tables_b)
        assert dict(
            reader.execute("SELECT run_id, status FROM analytics.forecast_runs").fetchall()
        ) == {"run-a": "superseded", "run-b": "published"}

    # the next week is a new run beside it: the week's re-run stays published
    next_week = WEEK + timedelta(weeks=1)
    run_c, tables_c = small_run("run-c", next_week, version="8", seed=3)
    assert publish(warehouse_url, run_c, tables_c) == []
    with psycopg.connect(warehouse_url) as conn:
        assert runs_by_id(conn) == {
            "run-a": (WEEK, "superseded", True),
            "run-b": (WEEK, "published", False),
            "run-c": (next_week, "published", False),
        }
        assert product_rows(conn) == {
            (WEEK, "run-b"): (PRODUCTS + 8) * WEEKS,
            (next_week, "run-c"): PRODUCTS * WEEKS,
        }
    with psycopg.connect(reader_url(warehouse_url), autocommit=True) as reader:
        assert read_state(reader) == expected_state(run_c, tables_c)
        published = reader.execute(
            "SELECT forecast_week, run_id FROM analytics.forecast_runs "
            "WHERE status = 'published' ORDER BY 1"
        ).fetchall()
        assert published == [(WEEK.isoformat(), "run-b"), (next_week.isoformat(), "run-c")]


class Reads:
    """A reader's checks: every read must show ``expected`` exactly; counted per phase."""

    def __init__(self, conn: psycopg.Connection, expected: ReaderState) -> None:
        self.conn, self.expected = conn, expected
        self.counts: dict[str, int] = {}
        self.started = time.monotonic()

    def check(self, phase: str) -> None:
        assert read_state(self.conn) == self.expected, phase
        self.counts[phase] = self.counts.get(phase, 0) + 1
        time.sleep(0.005)  # leave the publisher some CPU


def test_killing_the_publisher_mid_write_leaves_the_previous_run(
    warehouse_url: str, tmp_path: Path
) -> None:
    run_a, tables_a = small_run("run-a", version="7", seed=1)
    publish(warehouse_url, run_a, tables_a)
    big_products, big_weeks = 20_000, 52  # 1,040,000 product forecasts: COPY takes seconds
    stderr = (tmp_path / "publisher.stderr").open("w")
    publisher = subprocess.Popen(
        [
            sys.executable, "-m", "forecast_pipeline_tests.warehouse.publisher_process",
            warehouse_url, "run-b", WEEK.isoformat(), str(big_products), str(big_weeks), "8",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )  # fmt: skip
    admin = psycopg.connect(warehouse_url, autocommit=True)
    reader = psycopg.connect(reader_url(warehouse_url), autocommit=True)
    reads = Reads(reader, expected_state(run_a, tables_a))
    try:

        def still_running() -> None:
            if publisher.poll() is not None:
                pytest.fail(
                    f"the publisher exited by itself ({publisher.returncode}): "
                    + (tmp_path / "publisher.stderr").read_text()
                )

        deadline = time.monotonic() + 60
        while not select.select([publisher.stdout], [], [], 0.05)[0]:
            reads.check("before publishing")
            still_running()
            assert time.monotonic() < deadline, "the publisher never started publishing"
        marker = publisher.stdout.readline()
        assert marker.startswith("publishing backend_pid="), marker
        backend_pid = int(marker.strip().split("=")[1])

        # wait until the server is copying run B's product forecasts, reading all along
        copied = 0
        while copied < 50_000:
            still_running()
            assert time.monotonic() < deadline, "the publisher's COPY never got going"
            progress = admin.execute(
                "SELECT relid::regclass::text, tuples_processed FROM pg_stat_progress_copy "
                "WHERE pid = %s",
                (backend_pid,),
            ).fetchone()
            if progress is None:
                reads.check("publishing, before the COPY")
                continue
            assert progress[0] == "forecasts.product_forecasts"
            copied = progress[1]
            if copied:  # run B's transaction is open, with rows of B written: read now
                reads.check("during the COPY")
        os.kill(publisher.pid, signal.SIGKILL)
        assert publisher.wait(timeout=30) == -signal.SIGKILL  # killed, not finished
        killed_at = time.monotonic()

        # the server notices the dead client, rolls back and ends the backend
        while admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
        ).fetchone():
            reads.check("after the kill")
            assert time.monotonic() < killed_at + 30, "the publisher's backend stayed"
        backend_gone = time.monotonic() - killed_at
        for _ in range(20):
            reads.check("after the rollback")
        log.info(
            "killed the publisher after %d of %d rows copied (backend gone %.2f s later); "
            "consistent reads in %.1f s: %s",
            copied,
            big_products * big_weeks,
            backend_gone,
            time.monotonic() - reads.started,
            reads.counts,
        )
        assert 0 < copied < big_products * big_weeks
        assert reads.counts["during the COPY"] >= 1

        assert runs_by_id(admin) == {"run-a": (WEEK, "published", False)}
        assert product_rows(admin) == {(WEEK, "run-a"): PRODUCTS * WEEKS}
        assert rows_per_run(admin, "top_products") == {"run-a": len(tables_a.top_products)}
        assert admin.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        ).fetchone() == (0,)
        assert admin.execute(
            "SELECT count(*) FROM pg_locks "
            "WHERE relation = 'forecasts.forecast_runs'::regclass AND pid <> pg_backend_pid()"
        ).fetchone() == (0,)

        # publishing the week again works, and readers then see the new run only
        run_b, tables_b = small_run("run-b", version="8", products=PRODUCTS + 8, seed=2)
        assert publish(warehouse_url, run_b, tables_b) == ["run-a"]
        assert read_state(reader) == expected_state(run_b, tables_b)
        assert runs_by_id(admin) == {
            "run-a": (WEEK, "superseded", True),
            "run-b": (WEEK, "published", False),
        }
        assert product_rows(admin) == {(WEEK, "run-b"): (PRODUCTS + 8) * WEEKS}
    finally:
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait()
        publisher.stdout.close()
        stderr.close()
        reader.close()
        admin.close()


def test_readers_see_the_previous_or_the_new_run_during_a_publish(warehouse_url: str) -> None:
    run_a, tables_a = small_run("run-a", version="7", seed=1)
    publish(warehouse_url, run_a, tables_a)
    run_b = forecast_run("run-b", WEEK, products=2_000, weeks=52, model_version="8")
    tables_b = published_tables(WEEK, products=2_000, weeks=52, seed=2)
    before, after = expected_state(run_a, tables_a), expected_state(run_b, tables_b)

    reads: list[tuple[float, float, ReaderState]] = []  # (started, ended, what was seen)
    errors: list[BaseException] = []
    first_read, stop = threading.Event(), threading.Event()

    def read_until_stopped() -> None:
        try:
            with psycopg.connect(reader_url(warehouse_url), autocommit=True) as reader:
                while not stop.is_set():
                    started = time.monotonic()
                    state = read_state(reader)
                    reads.append((started, time.monotonic(), state))
                    first_read.set()
                    time.sleep(0.002)
        except BaseException as error:  # reported by the test thread
            errors.append(error)
            first_read.set()

    thread = threading.Thread(target=read_until_stopped, daemon=True)
    thread.start()
    try:
        assert first_read.wait(30)
        publish_started = time.monotonic()
        publish(warehouse_url, run_b, tables_b)
        published = time.monotonic()
        deadline = published + 30
        while not errors and reads[-1][0] < published and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    seen = [state for _, _, state in reads]
    assert set(seen) == {before, after}  # never anything else: no mix, no empty week
    assert seen[0] == before and seen[-1] == after
    # once the new run is visible, the previous one never comes back
    assert seen == [before] * seen.index(after) + [after] * (len(seen) - seen.index(after))
    during = [state for start, end, state in reads if start >= publish_started and end <= published]
    log.info(
        "%d reads in all; %d inside the %.2f s publish: %d the previous run, %d the new one",
        len(seen),
        len(during),
        published - publish_started,
        during.count(before),
        during.count(after),
    )


def test_reader_role_reads_the_analytics_views_and_nothing_else(warehouse_url: str) -> None:
    run_a, tables_a = small_run("run-a", version="7", seed=1)
    publish(warehouse_url, run_a, tables_a)
    reader_role = databases.READER_ROLE
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        relations = admin.execute(
            """
            SELECT n.nspname, c.relname,
                   has_table_privilege(%(role)s, c.oid, 'SELECT'),
                   has_table_privilege(
                       %(role)s, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('warehouse', 'forecasts', 'analytics', 'public', 'api')
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            """,
            {"role": reader_role},
        ).fetchall()
        schemas = dict(
            admin.execute(
                """
                SELECT s, (has_schema_privilege(%(role)s, s, 'USAGE'),
                           has_schema_privilege(%(role)s, s, 'CREATE'))::text
                FROM unnest(ARRAY['warehouse', 'forecasts', 'analytics', 'public']) AS s
                """,
                {"role": reader_role},
            ).fetchall()
        )
        can_create_schema = admin.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CREATE')", (reader_role,)
        ).fetchone()
    readable = {f"{schema}.{name}" for schema, name, select_, _ in relations if select_}
    assert readable == {f"analytics.{view}" for view in ANALYTICS_VIEWS}
    assert [f"{schema}.{name}" for schema, name, _, write in relations if write] == []
    assert {f"{schema}.{name}" for schema, name, _, _ in relations} > readable  # internals exist
    assert schemas == {
        "warehouse": "(f,f)",
        "forecasts": "(f,f)",
        "analytics": "(t,f)",
        "public": "(t,f)",
    }
    assert can_create_schema == (False,)

    with psycopg.connect(reader_url(warehouse_url), autocommit=True) as reader:
        for view in ANALYTICS_VIEWS:
            reader.execute(f"SELECT * FROM analytics.{view}").fetchall()
        assert read_state(reader) == expected_state(run_a, tables_a)
        for table in (
            "forecasts.product_forecasts",
            partition_name(WEEK),
            "forecasts.forecast_runs",
            "forecasts.top_products",
            "forecasts.retention_policy",
            "warehouse.sales_history",
            "warehouse.uploads",
            "warehouse.products",
            "api.api_keys",
        ):
            qualified = table if "." in table else f"forecasts.{table}"
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(f"SELECT count(*) FROM {qualified}")
        for statement in (
            # auto-updatable views: only the missing privilege stops these
            "DELETE FROM analytics.forecast_runs",
            "UPDATE analytics.forecast_runs SET status = 'superseded'",
            "INSERT INTO analytics.forecast_runs (run_id) VALUES ('intruder')",
            "UPDATE analytics.backtest_leaderboard SET mae = 0",
            "DELETE FROM analytics.model_promotions",
            "DELETE FROM forecasts.forecast_runs",
            "TRUNCATE forecasts.product_forecasts",
            "UPDATE forecasts.retention_policy SET keep_weeks = 1",
            "CREATE TABLE analytics.scratch (x int)",
            "CREATE TABLE public.scratch (x int)",
            "CREATE VIEW analytics.scratch AS SELECT 1",
            "CREATE SCHEMA scratch",
            "CREATE TEMP TABLE scratch (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
        # nor take the locks publishers and merges serialise on (it could hold them up)
        for lock in (
            "LOCK TABLE forecasts.forecast_runs IN SHARE ROW EXCLUSIVE MODE",
            "LOCK TABLE warehouse.sales_history IN SHARE ROW EXCLUSIVE MODE",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), reader.transaction():
                reader.execute(lock)
        assert read_state(reader) == expected_state(run_a, tables_a)
    with psycopg.connect(warehouse_url) as admin:
        assert runs_by_id(admin) == {"run-a": (WEEK, "published", False)}


def partitions(conn: psycopg.Connection) -> dict[str, str]:
    return dict(
        conn.execute(
            """
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'forecasts.product_forecasts'::regclass
            """
        ).fetchall()
    )


def test_weekly_partitions_and_retention(warehouse_url: str) -> None:
    weeks = [WEEK + timedelta(weeks=i) for i in range(4)]
    runs = {}
    for i, week in enumerate(weeks):
        run, tables = small_run(f"run-{i}", week, version="7", seed=i)
        publish(warehouse_url, run, tables)
        runs[week] = run
    names = [partition_name(week) for week in weeks]
    assert names[0] == "product_forecasts_w20261102"

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = 'forecasts.product_forecasts'::regclass"
        ).fetchone() == ("r", "forecast_week")
        assert partitions(conn) == {
            partition_name(week): (f"FOR VALUES FROM ('{week}') TO ('{week + timedelta(weeks=1)}')")
            for week in weeks
        }
        assert ensure_week_partition(conn, weeks[1]) == names[1]  # idempotent
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                sql.SQL(
                    "EXPLAIN (COSTS OFF) SELECT count(*) FROM forecasts.product_forecasts "
                    "WHERE forecast_week = {}"
                ).format(sql.Literal(weeks[2]))
            )
        )
        assert [name for name in names if name in plan] == [names[2]], plan
        # the latest-run view reads the newest week's partition only (run-time pruning)
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                "SELECT count(*) FROM analytics.product_forecasts"
            )
        )
        scanned = [n for n in names if any(n in ln and "never executed" not in ln
                                           for ln in plan.splitlines())]  # fmt: skip
        assert scanned == [names[-1]], plan

        conn.execute(
            "UPDATE forecasts.retention_policy SET keep_weeks = "
            "CASE data WHEN 'product_forecasts' THEN 2 WHEN 'runs' THEN 3 END"
        )
    with psycopg.connect(warehouse_url) as conn, pytest.raises(ValueError, match="autocommit"):
        apply_retention(conn)

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        result = apply_retention(conn)
        assert result.dropped_partitions == names[:2]
        assert result.deleted_runs == 1
        assert set(partitions(conn)) == set(names[2:])
        assert conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname = ANY(%s)", (names[:2],)
        ).fetchone() == (0,)  # detached and dropped, not left behind
        assert {week for week, _ in product_rows(conn)} == set(weeks[2:])
        assert set(runs_by_id(conn)) == {"run-1", "run-2", "run-3"}
        for table in ("top_products", "category_forecasts", "category_outlook"):
            assert set(rows_per_run(conn, table)) == {"run-1", "run-2", "run-3"}, table
        again = apply_retention(conn)
        assert (again.dropped_partitions, again.deleted_runs) == ([], 0)

    # weeks start on Mondays
    with psycopg.connect(warehouse_url) as conn, pytest.raises(ValueError, match="Monday"):
        ensure_week_partition(conn, WEEK + timedelta(days=1))

    # publishing without the week's partition fails as a whole: the week's run stays in force
    rerun, rerun_tables = small_run("run-1-again", weeks[1], version="8", seed=9)
    with (
        psycopg.connect(warehouse_url) as conn,
        pytest.raises(psycopg.errors.CheckViolation, match="no partition of relation"),
    ):
        publish_forecast_run(conn, rerun, rerun_tables)
    new, new_tables = small_run("run-4", weeks[3] + timedelta(weeks=1), version="8", seed=10)
    with (
        psycopg.connect(warehouse_url) as conn,
        pytest.raises(psycopg.errors.CheckViolation, match="no partition of relation"),
    ):
        publish_forecast_run(conn, new, new_tables)
    with psycopg.connect(warehouse_url) as conn:
        assert runs_by_id(conn) == {
            "run-1": (weeks[1], "published", False),
            "run-2": (weeks[2], "published", False),
            "run-3": (weeks[3], "published", False),
        }
    with psycopg.connect(reader_url(warehouse_url), autocommit=True) as reader:
        assert reader.execute("SELECT run_id FROM analytics.latest_forecast_run").fetchone() == (
            "run-3",
        )
