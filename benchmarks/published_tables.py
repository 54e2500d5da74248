"""Published tables at scale: query plans and latency of the analytics views, and retention.

A fresh database (``published_bench_<suffix>``, dropped at the end unless ``--keep``) is
migrated to head and filled with generated data, all of it server-side with
``INSERT ... SELECT generate_series(...)`` (much faster than streaming frames with COPY; the
values are random but plausible, seeded with ``setseed``):

* ``warehouse.products``: ``--products`` products (default 100,000) in ``--categories``
  categories (default 20, about equal sizes), levels spanning three orders of magnitude;
* ``forecasts.forecast_runs``: ``--weeks`` (default 104) weekly published runs, the
  partition weeks being the Mondays of two years ending last Monday, plus 2 superseded runs
  (re-runs of two weeks, their rows gone as after a real re-publication);
* per published run: ``forecasts.top_products`` (top ``--top-n``, default 25, per category and
  period week / month / year, every column filled), ``forecasts.category_forecasts``
  (categories and the total x 52 target weeks) and ``forecasts.category_outlook`` (categories
  and the total x 3 periods);
* ``forecasts.product_forecasts`` for the newest ``--product-weeks`` runs (default 4; the
  retention policy keeps 26, four are enough to show pruning): every product x 52 target weeks
  per run, each week's partition created by ``publishing.ensure_week_partition`` and filled
  with one ``INSERT ... SELECT`` through the partitioned parent (``--fill-workers`` partitions
  at a time, default 2);
* ``warehouse.sales_history``: daily sales of the first ``--sales-products`` products
  (default 2,000) in one store over the two years up to the newest run's data end (days
  without sales have no row), one merged ``warehouse.uploads`` row, and three weekly indicator
  series, so that ``analytics.forecast_accuracy`` and ``analytics.data_freshness`` have data.
  The category forecasts are drawn around the expected sales of those products, so the
  accuracy view's WAPE is plausible.

Then ``VACUUM (ANALYZE)``, and for each query: one warm-up run, ``EXPLAIN (ANALYZE, BUFFERS)``
with its plan and execution time, then ``--repeat`` (default 20) warm runs from Python (psycopg,
autocommit, read-only like the API's pool; psycopg prepares a statement from its 5th run on)
with p50 / p95 wall latency in ms. The queries: ``analytics.latest_forecast_run`` (the API reads
it on every request); the API's top-products SQL (imported from the router) for one category,
period month, limit 10 (the acceptance query) and for all categories, limit 100, also as a
prepared statement's generic plan; ``analytics.product_forecasts`` for one product and for one
category's next 4 weeks (with the partitions scanned: runtime pruning through the join to
``analytics.latest_forecast_run`` must leave one); ``analytics.category_forecasts`` for one
category; ``analytics.category_outlook`` for ``year``; ``analytics.forecast_accuracy`` and
``analytics.data_freshness`` whole.

Last, retention at scale: ``publishing.apply_retention`` with ``product_forecasts`` kept 2
weeks (detaches and drops the 2 oldest partitions), then with ``runs`` kept 52 weeks (deletes
the older runs with their top products, category forecasts and outlook), each timed while two
reader threads query ``analytics.top_products`` (the API's SQL) and
``analytics.product_forecasts`` (one product) in a loop: their latencies during retention
show whether readers were blocked.

It prints the generation time per step, table sizes (``pg_total_relation_size``, partitions
summed) and row counts, the plans, the latency table and the retention figures.

Usage: .venv/bin/python benchmarks/published_tables.py [--products 100000] [--categories 20]
[--top-n 25] [--weeks 104] [--product-weeks 4] [--sales-products 2000] [--repeat 20]
[--fill-workers 2] [--server URL] [--keep]
(the server defaults to FORECAST_POSTGRES_URL, else an embedded one). At the defaults the
database grows to about 6.3 GB (1.5 GB per product-forecast week) and the run takes about 5
minutes on 2 cores, most of it filling the product-forecast partitions.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from forecast_pipeline.api.routers.forecast import TOP_PRODUCTS_SQL
from forecast_pipeline.warehouse import databases, migrate, publishing

HORIZON = 52
UPLOAD_ID = "bench_sales.csv@0123456789ab"
INDICATORS = ("CPIAUCSL", "UNRATE", "UMCSENT")
SUPERSEDED_AGO = (0, 5)  # weeks before the newest whose first publication was superseded

SETUP = (
    "CREATE SCHEMA bench",
    """
CREATE FUNCTION bench.season(d date) RETURNS double precision
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT 1 + 0.3 * sin(2 * pi() * (d - date '2000-01-03') / 364.0) $$
""",
    """
CREATE TABLE bench.categories AS
SELECT c AS idx, 'Category ' || lpad((c + 1)::text, 2, '0') AS name
FROM generate_series(0, %(categories)s::int - 1) AS c
""",
    """
-- level: expected units per week, 0.1 to ~300 (most products slow movers)
CREATE TABLE bench.products AS
SELECT 'P' || lpad(i::text, %(width)s::int, '0') AS product_id, 'Product ' || i AS product_name,
       c.name AS category, 0.1 * exp(8 * random() ^ 2) AS level,
       round((2 + 98 * random())::numeric, 2)::double precision AS price,
       random() < 0.03 AS cold_start, i <= %(sales_products)s::int AS has_sales
FROM generate_series(1, %(products)s::int) AS i
JOIN bench.categories c ON c.idx = i %% %(categories)s::int
ORDER BY i
""",
    """
CREATE TABLE bench.levels AS
SELECT 'category' AS level, c.name AS category, coalesce(sum(p.level), 1) AS weekly
FROM bench.categories c LEFT JOIN bench.products p ON p.category = c.name AND p.has_sales
GROUP BY c.name
UNION ALL
SELECT 'total', 'total', coalesce(sum(level), 1) FROM bench.products WHERE has_sales
""",
)

PRODUCTS = """
INSERT INTO warehouse.products (product_id, product_name, category, first_sale_date,
                                last_sale_date)
SELECT product_id, product_name, category,
       CASE WHEN cold_start THEN %(last_day)s::date - 20
            ELSE %(first_day)s::date - (random() * 700)::int END,
       %(last_day)s::date
FROM bench.products
"""

RUNS = """
INSERT INTO forecasts.forecast_runs
    (run_id, partition_key, forecast_week, origin, model_name, model_version, mlflow_run_id,
     dagster_run_id, data_start, data_end, horizon_weeks, n_products, status, published_at,
     superseded_at)
VALUES (%s, %s, %s, %s, 'weekly_units', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

TOP_PRODUCTS = """
INSERT INTO forecasts.top_products
    (run_id, category, time_period, rank, product_id, product_name, predicted_units, lower_80,
     upper_80, previous_units, change_pct, trend, unit_price, predicted_revenue,
     last_year_units, change_vs_last_year_pct, action, cold_start)
WITH candidates AS (
    SELECT * FROM (
        SELECT p.*, row_number() OVER (PARTITION BY p.category ORDER BY p.level DESC) AS position
        FROM bench.products p
    ) ranked_products
    WHERE position <= 3 * %(top_n)s::int
), scored AS (
    SELECT r.run_id, c.category, pe.time_period, c.product_id, c.product_name, c.price,
           c.cold_start,
           c.level * pe.weeks * bench.season(r.forecast_week + 7) * (0.75 + 0.5 * random())
               AS predicted_units
    FROM forecasts.forecast_runs r
    CROSS JOIN candidates c
    CROSS JOIN (VALUES ('week', 1), ('month', 4), ('year', 52)) AS pe (time_period, weeks)
    WHERE r.status = 'published'
), ranked AS (
    SELECT s.*, row_number() OVER (
               PARTITION BY s.run_id, s.time_period, s.category ORDER BY s.predicted_units DESC
           ) AS rank
    FROM scored s
), valued AS (
    SELECT k.*, k.predicted_units * (0.7 + 0.6 * random()) AS previous_units,
           CASE WHEN k.cold_start THEN NULL
                ELSE k.predicted_units * (0.6 + 0.8 * random()) END AS last_year_units
    FROM ranked k
    WHERE k.rank <= %(top_n)s::int
), trended AS (
    SELECT v.*, v.predicted_units / v.previous_units - 1 AS change_pct,
           CASE WHEN abs(v.predicted_units / v.previous_units - 1) < 0.05 THEN 'flat'
                WHEN v.predicted_units > v.previous_units THEN 'up' ELSE 'down' END AS trend
    FROM valued v
)
SELECT t.run_id, t.category, t.time_period, t.rank, t.product_id, t.product_name,
       t.predicted_units, t.predicted_units * 0.8, t.predicted_units * 1.25, t.previous_units,
       t.change_pct, t.trend, t.price, t.predicted_units * t.price, t.last_year_units,
       t.predicted_units / t.last_year_units - 1,
       CASE WHEN t.trend = 'up' AND t.predicted_units * 0.8 >= t.previous_units * 0.95
                THEN 'stock_up'
            WHEN t.trend = 'down' AND t.predicted_units * 1.25 <= t.previous_units * 1.05
                THEN 'reduce'
            ELSE 'hold' END,
       t.cold_start
FROM trended t
"""

CATEGORY_FORECASTS = """
INSERT INTO forecasts.category_forecasts
    (run_id, level, category, target_week, step, units, lower_80, upper_80, lower_95, upper_95)
SELECT r.run_id, l.level, l.category, x.target_week, x.step, x.units, x.units * (1 - x.w),
       x.units * (1 + x.w), x.units * greatest(0, 1 - 1.6 * x.w), x.units * (1 + 1.6 * x.w)
FROM forecasts.forecast_runs r
CROSS JOIN bench.levels l
CROSS JOIN LATERAL (
    SELECT s AS step, r.forecast_week + 7 * s AS target_week, 0.08 + 0.004 * s AS w,
           l.weekly * bench.season(r.forecast_week + 7 * s) * (0.9 + 0.2 * random()) AS units
    FROM generate_series(1, %(horizon)s::int) AS s
) x
WHERE r.status = 'published'
"""

CATEGORY_OUTLOOK = """
INSERT INTO forecasts.category_outlook
    (run_id, level, category, time_period, predicted_units, lower_80, upper_80, lower_95,
     upper_95, previous_units, change_pct, last_year_units, change_vs_last_year_pct, trend)
SELECT r.run_id, l.level, l.category, pe.time_period, x.pred, x.pred * 0.85, x.pred * 1.15,
       x.pred * 0.75, x.pred * 1.25, x.prev, x.pred / x.prev - 1, x.last_year,
       x.pred / x.last_year - 1,
       CASE WHEN abs(x.pred / x.prev - 1) < 0.05 THEN 'flat'
            WHEN x.pred > x.prev THEN 'up' ELSE 'down' END
FROM forecasts.forecast_runs r
CROSS JOIN bench.levels l
CROSS JOIN (VALUES ('week', 1), ('month', 4), ('year', 52)) AS pe (time_period, weeks)
CROSS JOIN LATERAL (
    SELECT l.weekly * pe.weeks * bench.season(r.forecast_week + 7) * (0.9 + 0.2 * random())
               AS pred,
           l.weekly * pe.weeks * (0.85 + 0.2 * random()) AS prev,
           l.weekly * pe.weeks * (0.8 + 0.3 * random()) AS last_year
) x
WHERE r.status = 'published'
"""

PRODUCT_FORECASTS = """
INSERT INTO forecasts.product_forecasts
    (forecast_week, run_id, product_id, category, target_week, step, units, lower_80,
     upper_80, lower_95, upper_95, cold_start)
SELECT %(week)s::date, %(run_id)s, p.product_id, p.category, x.target_week, x.step, x.units,
       x.units * (1 - x.w), x.units * (1 + x.w), x.units * greatest(0, 1 - 1.6 * x.w),
       x.units * (1 + 1.6 * x.w), p.cold_start
FROM bench.products p
CROSS JOIN LATERAL (
    SELECT s AS step, %(week)s::date + 7 * s AS target_week, 0.15 + 0.005 * s AS w,
           p.level * bench.season(%(week)s::date + 7 * s) * (0.9 + 0.2 * random()) AS units
    FROM generate_series(1, %(horizon)s::int) AS s
) x
"""

SALES = """
INSERT INTO warehouse.sales_history
    (sale_date, store_id, product_id, units, unit_price, revenue, on_promotion, upload_id,
     line_number)
SELECT x.sale_date, 'S01', x.product_id, u.units, x.unit_price,
       round((u.units * x.unit_price)::numeric, 2), x.promo, %(upload_id)s,
       (row_number() OVER ())::int + 1
FROM generate_series(0, %(days)s::int - 1) AS k
CROSS JOIN LATERAL (
    SELECT %(start)s::date + k AS sale_date, p.product_id, p.level, promo.promo,
           CASE WHEN promo.promo THEN round((p.price * 0.8)::numeric, 2)::double precision
                ELSE p.price END AS unit_price
    FROM bench.products p
    CROSS JOIN LATERAL (SELECT random() < 0.05 AS promo) promo
    WHERE p.has_sales
) x
CROSS JOIN LATERAL (
    SELECT floor(x.level / 7 * bench.season(x.sale_date) * (0.4 + 1.2 * random())
                 * CASE WHEN x.promo THEN 1.5 ELSE 1 END + random())::int AS units
) u
WHERE u.units > 0
"""

UPLOAD = """
INSERT INTO warehouse.uploads
    (upload_id, filename, source_uri, raw_uri, checksum_sha256, size_bytes, received_at,
     status, contract_version, rows_read, rows_accepted, rows_rejected, validated_at, merged_at)
SELECT %(upload_id)s, 'bench_sales.csv', 'file:///bench_sales.csv', 'file:///raw/bench_sales.csv',
       repeat('0', 64), 1, now() - interval '5 minutes', 'merged', '1', count(*), count(*), 0,
       now() - interval '4 minutes', now()
FROM warehouse.sales_history
"""

INDICATOR_ROWS = """
INSERT INTO warehouse.indicator_observations
    (series_id, observation_date, value, published_date, source, frequency)
SELECT s.series_id, %(start)s::date + 7 * k, 100 + k * 0.1 + random(),
       %(start)s::date + 7 * k + 3, 'fred', 'weekly'
FROM unnest(%(series)s::text[]) AS s (series_id)
CROSS JOIN generate_series(0, %(weeks)s::int - 1) AS k
"""

PRODUCT_QUERY = """
SELECT * FROM analytics.product_forecasts WHERE product_id = %(product_id)s ORDER BY target_week
"""
CATEGORY_WEEKS_QUERY = """
SELECT * FROM analytics.product_forecasts
WHERE category = %(category)s AND step <= 4
ORDER BY product_id, target_week
"""


@dataclass(frozen=True)
class Query:
    label: str
    sql: str
    params: dict[str, object]
    partitions: bool = False  # reads forecasts.product_forecasts: report the partitions scanned


@dataclass(frozen=True)
class Run:
    run_id: str
    week: date
    status: str


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError


def run_id(label: str) -> str:
    return hashlib.md5(label.encode()).hexdigest()  # 32 hex digits, like uuid4().hex


def weeks_ending_last_monday(count: int) -> list[date]:
    today = date.today()
    last_monday = today - timedelta(days=today.weekday() + 7)
    return [last_monday - timedelta(weeks=count - 1 - i) for i in range(count)]


class Steps:
    """Times the generation steps and prints them as they finish."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, label: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        self.total += seconds
        print(f"  {label:58s} {seconds:7.1f} s", flush=True)
        return result


def generate(url: str, args: argparse.Namespace) -> list[Run]:
    weeks = weeks_ending_last_monday(args.weeks)
    newest = weeks[-1]
    first_day, last_day = weeks[0], newest + timedelta(days=6)  # data end of the newest run
    runs = [Run(run_id(f"published:{week}"), week, "published") for week in weeks]
    superseded = [
        Run(run_id(f"superseded:{weeks[-1 - ago]}"), weeks[-1 - ago], "superseded")
        for ago in SUPERSEDED_AGO
        if ago < len(weeks)
    ]
    width = max(6, len(str(args.products)))
    steps = Steps()
    print(
        f"generating: {args.products:,} products in {args.categories} categories, "
        f"{len(runs)} published runs ({weeks[0]} .. {newest}) + {len(superseded)} superseded, "
        f"top {args.top_n}, product forecasts for the newest {args.product_weeks} runs",
        flush=True,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        params = {
            "categories": args.categories,
            "products": args.products,
            "sales_products": args.sales_products,
            "width": width,
            "first_day": first_day,
            "last_day": last_day,
        }

        def setup() -> None:  # CREATE TABLE AS takes no server-side parameters
            with psycopg.ClientCursor(conn) as cur:
                for statement in SETUP:
                    cur.execute(statement, params)

        steps("helper tables (bench schema)", setup)
        steps("warehouse.products", lambda: conn.execute(PRODUCTS, params))

        def insert_runs() -> None:
            rows = []
            for k, run in enumerate(runs + superseded):
                origin = run.week + timedelta(days=7)
                published_at = datetime.combine(origin, datetime.min.time(), UTC) + timedelta(
                    hours=6 if run.status == "published" else 3
                )
                rows.append(
                    (
                        run.run_id, str(run.week), run.week, origin, str(1 + k // 8),
                        run_id(f"mlflow:{run.run_id}"), str(uuid.UUID(run.run_id)),
                        run.week - timedelta(weeks=156), run.week + timedelta(days=6), HORIZON,
                        args.products, run.status, published_at,
                        published_at + timedelta(hours=3) if run.status == "superseded" else None,
                    )
                )  # fmt: skip
            with conn.cursor() as cur:
                cur.executemany(RUNS, rows)

        steps("forecasts.forecast_runs", insert_runs)
        steps(
            "forecasts.top_products",
            lambda: conn.execute(TOP_PRODUCTS, {"top_n": args.top_n}),
        )
        steps(
            "forecasts.category_forecasts",
            lambda: conn.execute(CATEGORY_FORECASTS, {"horizon": HORIZON}),
        )
        steps(
            "forecasts.category_outlook",
            lambda: conn.execute(CATEGORY_OUTLOOK, {"horizon": HORIZON}),
        )
        days = (last_day - first_day).days + 1
        steps(
            f"warehouse.sales_history ({args.sales_products:,} products x {days} days)",
            lambda: conn.execute(SALES, {"upload_id": UPLOAD_ID, "days": days, "start": first_day}),
        )
        steps("warehouse.uploads", lambda: conn.execute(UPLOAD, {"upload_id": UPLOAD_ID}))
        steps(
            "warehouse.indicator_observations",
            lambda: conn.execute(
                INDICATOR_ROWS,
                {"start": first_day, "series": list(INDICATORS), "weeks": args.weeks},
            ),
        )

    def fill(run: Run) -> float:
        started = time.perf_counter()
        with psycopg.connect(url) as conn:  # its own transaction, as the publisher does
            publishing.ensure_week_partition(conn, run.week)
        with psycopg.connect(url) as conn:
            conn.execute("SELECT setseed(%s)", ((run.week.toordinal() % 1000) / 1000,))
            conn.execute(
                PRODUCT_FORECASTS, {"week": run.week, "run_id": run.run_id, "horizon": HORIZON}
            )
        return time.perf_counter() - started

    filled = runs[-args.product_weeks :] if args.product_weeks else []

    def fill_all() -> None:
        with ThreadPoolExecutor(max_workers=args.fill_workers) as pool:
            for run, seconds in zip(filled, pool.map(fill, filled), strict=True):
                print(f"    partition {publishing.partition_name(run.week)}: {seconds:6.1f} s")

    rows = args.products * HORIZON * len(filled)
    steps(
        f"forecasts.product_forecasts ({len(filled)} partitions, {rows:,} rows, "
        f"{args.fill_workers} at a time)",
        fill_all,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        steps("drop the helper schema", lambda: conn.execute("DROP SCHEMA bench CASCADE"))
        steps("VACUUM (ANALYZE)", lambda: conn.execute("VACUUM (ANALYZE)"))
    print(f"  {'generation total':58s} {steps.total:7.1f} s")
    return runs


def print_sizes(url: str) -> None:
    tables = [
        ("forecasts", "forecast_runs"),
        ("forecasts", "product_forecasts"),
        ("forecasts", "top_products"),
        ("forecasts", "category_forecasts"),
        ("forecasts", "category_outlook"),
        ("warehouse", "products"),
        ("warehouse", "sales_history"),
    ]
    print("\ntable sizes (heap + indexes + toast; partitions summed) and rows")
    with psycopg.connect(url, autocommit=True) as conn:
        for schema, table in tables:
            name = f"{schema}.{table}"
            size, indexes = conn.execute(
                """
                SELECT sum(pg_total_relation_size(relid)), sum(pg_indexes_size(relid))
                FROM (SELECT relid FROM pg_partition_tree(%(name)s::regclass)
                      UNION SELECT %(name)s::regclass) AS tree
                """,
                {"name": name},
            ).fetchone()
            (rows,) = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
            print(f"  {name:32s} {rows:>12,} rows {human(size):>10s} (indexes {human(indexes)})")
        for (partition,) in conn.execute(
            """
            SELECT relid::regclass::text FROM pg_partition_tree('forecasts.product_forecasts')
            WHERE isleaf ORDER BY 1
            """
        ).fetchall():
            (size,) = conn.execute(
                "SELECT pg_total_relation_size(%s::regclass)", (partition,)
            ).fetchone()
            print(f"    {partition:42s} {human(size):>10s}")
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        print(f"  database total {human(size)}")


def partition_scans(plan: list[str]) -> str:
    """Partitions of product_forecasts in a plan: scanned, never executed, removed at start."""
    scans = [line for line in plan if re.search(r" on product_forecasts_w\d{8}\b", line)]
    skipped = sum("(never executed)" in line for line in scans)
    removed = sum(
        int(match.group(1))
        for match in (re.search(r"Subplans Removed: (\d+)", line) for line in plan)
        if match
    )
    return (
        f"partitions of forecasts.product_forecasts scanned: {len(scans) - skipped}"
        f" (never executed: {skipped}, removed at executor start: {removed})"
    )


def explain(conn: psycopg.Connection, query: Query) -> float:
    conn.execute(query.sql, query.params).fetchall()  # warm the cache: the plan shows warm times
    plan = [row[0] for row in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query.sql}", query.params)]
    print(f"\n=== {query.label}")
    print("    " + " ".join(query.sql.split()))
    print(f"    params: {query.params}")
    for line in plan:
        print(f"  {line}")
    if query.partitions:
        print(f"  -> {partition_scans(plan)}")
    match = next((re.search(r"Execution Time: ([\d.]+) ms", line) for line in plan[::-1]), None)
    return float(match.group(1)) if match else float("nan")


def latencies(conn: psycopg.Connection, query: Query, repeat: int) -> tuple[list[float], int]:
    rows = len(conn.execute(query.sql, query.params).fetchall())  # warm-up
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(query.sql, query.params).fetchall()
        seconds.append(time.perf_counter() - started)
    return seconds, rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def generic_plan(conn: psycopg.Connection, category: str | None, limit: int) -> None:
    """The API query as a prepared statement's generic plan (what a reused connection may run)."""
    prepared = (
        TOP_PRODUCTS_SQL.replace("%(time_period)s", "$1")
        .replace("%(category)s", "$2")
        .replace("%(limit)s", "$3")
    )
    conn.execute(f"PREPARE bench_top(text, text, int) AS {prepared}")
    conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_top('month', {}, {})")
        arguments = statement.format(sql.Literal(category), sql.Literal(limit))
        plan = [row[0] for row in conn.execute(arguments)]
    finally:
        conn.execute("RESET plan_cache_mode")
        conn.execute("DEALLOCATE bench_top")
    print(f"\n=== API top products, generic plan (category={category!r}, limit {limit})")
    for line in plan:
        print(f"  {line}")


def queries(url: str, args: argparse.Namespace) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        (category,) = conn.execute(
            "SELECT category FROM warehouse.products GROUP BY 1 ORDER BY 1 OFFSET %s LIMIT 1",
            (args.categories // 2,),
        ).fetchone()
        (product_id,) = conn.execute(
            "SELECT product_id FROM warehouse.products ORDER BY product_id OFFSET %s LIMIT 1",
            (args.products // 2,),
        ).fetchone()
    top = {"time_period": "month", "category": category, "limit": 10}
    plan_queries = [
        Query("analytics.latest_forecast_run (read by the API on every request)",
              "SELECT * FROM analytics.latest_forecast_run", {}),
        Query("1. API top products: month, one category, limit 10 (acceptance query)",
              TOP_PRODUCTS_SQL, top),
        Query("2. API top products: month, all categories, limit 100",
              TOP_PRODUCTS_SQL, {"time_period": "month", "category": None, "limit": 100}),
        Query("3a. analytics.product_forecasts: one product", PRODUCT_QUERY,
              {"product_id": product_id}, partitions=True),
        Query("3b. analytics.product_forecasts: one category, next 4 weeks",
              CATEGORY_WEEKS_QUERY, {"category": category}, partitions=True),
        Query("4. analytics.category_forecasts: one category",
              "SELECT * FROM analytics.category_forecasts WHERE category = %(category)s "
              "ORDER BY target_week", {"category": category}),
        Query("5. analytics.category_outlook: year",
              "SELECT * FROM analytics.category_outlook WHERE time_period = 'year' "
              "ORDER BY level, category", {}),
        Query("6a. analytics.forecast_accuracy (whole view)",
              "SELECT * FROM analytics.forecast_accuracy", {}),
        Query("6b. analytics.data_freshness", "SELECT * FROM analytics.data_freshness", {}),
    ]  # fmt: skip
    results = []
    # as the API and the BI tools connect: the read-only role (JIT off for it)
    reader_url = databases.with_database(url, user=databases.READER_ROLE)
    with psycopg.connect(reader_url, autocommit=True) as conn:
        conn.read_only = True
        for query in plan_queries:
            executed = explain(conn, query)
            results.append((query, executed))
        generic_plan(conn, category, 10)
        generic_plan(conn, None, 100)
    print(
        f"\nlatency: {args.repeat} warm runs each, wall time in Python (psycopg as "
        "forecast_reader, autocommit, read-only; prepared from the 5th run on)"
    )
    print(f"  {'query':66s} {'rows':>7s} {'EXPLAIN':>8s} {'p50':>8s} {'p95':>8s} {'max':>8s} ms")
    with psycopg.connect(reader_url, autocommit=True) as conn:
        conn.read_only = True
        for query, executed in results:
            seconds, rows = latencies(conn, query, args.repeat)
            print(
                f"  {query.label[:66]:66s} {rows:7,d} {executed:8.2f} "
                f"{ms(percentile(seconds, 0.5))} {ms(percentile(seconds, 0.95))} "
                f"{ms(max(seconds))}"
            )


class Reader(threading.Thread):
    """Runs one query in a loop on its own connection, recording (start, seconds)."""

    def __init__(self, url: str, sql: str, params: dict[str, object]) -> None:
        super().__init__(daemon=True)
        self.url, self.sql, self.params = url, sql, params
        self.stop = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.read_only = True
                while not self.stop.is_set():
                    started = time.perf_counter()
                    conn.execute(self.sql, self.params).fetchall()
                    self.samples.append((started, time.perf_counter() - started))
        except BaseException as error:  # reported by the main thread
            self.error = error

    def report(self, label: str, window: tuple[float, float]) -> str:
        if self.error is not None:
            return f"    reader {label}: failed: {self.error!r}"
        before = [s for t, s in self.samples if t + s < window[0]]
        during = [s for t, s in self.samples if t < window[1] and t + s > window[0]]
        base = percentile(before, 0.5) if before else float("nan")
        worst = max(during) if during else float("nan")
        return (
            f"    reader {label}: {len(during)} queries overlapping retention, max "
            f"{worst * 1000:.1f} ms (p50 before retention {base * 1000:.2f} ms)"
        )


def retention(url: str, args: argparse.Namespace, runs: list[Run]) -> None:
    print("\nretention at scale (publishing.apply_retention, autocommit)")
    with psycopg.connect(url, autocommit=True) as conn:
        (product_id,) = conn.execute(
            "SELECT product_id FROM warehouse.products ORDER BY product_id LIMIT 1"
        ).fetchone()
    top = {"time_period": "month", "category": None, "limit": 10}
    for data, keep in (("product_forecasts", 2), ("runs", 52)):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE forecasts.retention_policy SET keep_weeks = %s WHERE data = %s",
                (keep, data),
            )
            readers = {
                "analytics.top_products (API SQL)": Reader(url, TOP_PRODUCTS_SQL, top),
                "analytics.product_forecasts (one product)": Reader(
                    url, PRODUCT_QUERY, {"product_id": product_id}
                ),
            }
            for reader in readers.values():
                reader.start()
            time.sleep(1.0)
            started = time.perf_counter()
            result = publishing.apply_retention(conn)
            finished = time.perf_counter()
            time.sleep(0.5)
            for reader in readers.values():
                reader.stop.set()
            for reader in readers.values():
                reader.join()
        print(
            f"  {data} keep_weeks={keep}: {finished - started:.2f} s; dropped partitions "
            f"{result.dropped_partitions or 'none'}, deleted runs {result.deleted_runs}"
        )
        for label, reader in readers.items():
            print(reader.report(label, (started, finished)))
    with psycopg.connect(url, autocommit=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM forecasts.forecast_runs").fetchone()
        (partitions,) = conn.execute(
            "SELECT count(*) FROM pg_partition_tree('forecasts.product_forecasts') WHERE isleaf"
        ).fetchone()
    print(f"  left: {count} runs, {partitions} product_forecasts partitions")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--top-n", type=int, default=25)
    parser.add_argument("--weeks", type=int, default=104, help="published weekly runs")
    parser.add_argument(
        "--product-weeks",
        type=int,
        default=4,
        help="newest runs with product forecasts (one partition each)",
    )
    parser.add_argument(
        "--sales-products", type=int, default=2_000, help="products with daily sales history"
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query")
    parser.add_argument(
        "--fill-workers", type=int, default=2, help="product-forecast partitions filled at a time"
    )
    parser.add_argument("--server", default=os.environ.get("FORECAST_POSTGRES_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()  # fmt: skip
    if args.categories > args.products or args.product_weeks > args.weeks:
        parser.error("need categories <= products and product-weeks <= weeks")
    server = args.server or databases.start_embedded_postgres(
        Path(tempfile.mkdtemp(prefix="published_bench_")), keep_running=False
    )
    name = f"published_bench_{uuid.uuid4().hex[:8]}"
    databases.ensure_database(server, name)
    url = databases.with_database(server, name)
    started = time.perf_counter()
    try:
        migrate.upgrade(url)
        runs = generate(url, args)
        print_sizes(url)
        queries(url, args)
        retention(url, args, runs)
    finally:
        if args.keep:
            print(f"\nkept database {name}: {url}")
        else:
            databases.drop_database(server, name)
    print(f"\nbenchmark total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
