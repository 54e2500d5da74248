"""Realised accuracy at scale: scoring one target week with ``warehouse.accuracy.score_week``.

A fresh database (``realised_bench_<suffix>``, dropped at the end unless ``--keep``) is migrated
to head and filled by the generator of ``benchmarks/published_tables.py`` (imported, not
copied): ``--products`` products (default 100,000) in ``--categories`` categories (default 20);
two years of published weekly runs ending last Monday (104, as the ``runs`` retention of 156
weeks keeps them), each with category and total forecasts of 52 target weeks; product
forecasts of every product x 52 target weeks for the newest ``--product-weeks`` runs (default
26, the ``product_forecasts`` retention; one partition each); daily sales of *every* product
over the two years (days without sales have no row).

Then the newest complete week W (``last_complete_week``) is scored as the
``monitoring/realised_accuracy`` asset does: ``score_week`` then ``replace_realised_accuracy``
in one transaction (``--repeat`` times: the first run finds what generation left in the
caches, the next ones what the previous run read; at 100,000 products the partitions read are
larger than the memory of a small machine, so the figures depend on the cache). The library
functions that ``score_week`` calls are wrapped for the run (the files are not changed) so the
time splits into: product forecasts (SQL), category and total forecasts (SQL), weekly units
(SQL), gap-filling the weekly history, MASE scales, scoring, and storing; each with its calls,
wall seconds and rows returned. The queries that load the product
forecasts and the weekly units are recorded as they run (with their ``jit`` setting) and shown
with ``EXPLAIN (ANALYZE, BUFFERS)`` (a second run, after the timed one: the pages it reads may
still be cached), with a summary: scan nodes, shared buffers hit / read, execution time.

``--save PATH`` writes the scores (parquet) and ``--compare PATH`` checks the scores against a
saved file (same date, same generator: identical data): keys and counts must be equal, sums
equal to 1e-12 relative. That is how an optimisation is shown to keep the results. ``--keep``
then ``--reuse NAME`` score a generated database again without regenerating it.

Usage: .venv/bin/python benchmarks/realised_accuracy.py [--products 100000] [--categories 20]
[--product-weeks 26] [--fill-workers 2] [--repeat 1] [--server URL] [--keep] [--reuse NAME]
[--save PATH] [--compare PATH]
(the server defaults to FORECAST_POSTGRES_URL, else an embedded one). At the defaults the
database grows to about 34 GB (1.2 GB per product-forecast week) and generating it takes about
26 minutes on 2 cores, most of it filling the product-forecast partitions; at 10,000 products,
3.6 GB and 2-3 minutes.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import psycopg
from published_tables import generate, print_sizes

from forecast_pipeline.monitoring import accuracy as scoring
from forecast_pipeline.monitoring.accuracy import COMPONENT_COLUMNS, KEY_COLUMNS
from forecast_pipeline.warehouse import accuracy, databases, migrate

# (module, function, step label): the calls of score_week that are timed
TIMED: tuple[tuple[ModuleType, str, str], ...] = (
    (accuracy, "load_product_forecasts", "product forecasts (SQL)"),
    (accuracy, "load_category_forecasts", "category/total forecasts (SQL)"),
    (accuracy, "load_weekly_units", "weekly units (SQL)"),
    (scoring, "fill_weeks", "gap-fill weekly history"),
    (scoring, "forecast_scales", "MASE scales"),
    (scoring, "score_forecasts", "scoring"),
)
STORE = "replace_realised_accuracy (+ commit)"
EXPLAINED = ("product forecasts (SQL)", "weekly units (SQL)")
QUERY_FUNCTIONS = ("read_frame", "read_csv_frame")  # how warehouse.accuracy runs its queries
INTEGER_COLUMNS = ["n_series", "scaled_series", "in_80", "in_95"]
FLOAT_COLUMNS = [c for c in COMPONENT_COLUMNS if c not in INTEGER_COLUMNS]


@dataclass
class Step:
    calls: int = 0
    seconds: float = 0.0
    rows: int = 0


@dataclass
class Profile:
    """Time and rows per step, and the queries each step ran (SQL, parameters, ``jit``)."""

    steps: dict[str, Step] = field(default_factory=dict)
    queries: dict[str, list[tuple[str, object, str]]] = field(default_factory=dict)
    current: str | None = None

    def record(self, label: str, seconds: float, rows: int) -> None:
        step = self.steps.setdefault(label, Step())
        step.calls += 1
        step.seconds += seconds
        step.rows += rows


def _timed(profile: Profile, label: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        outer, profile.current = profile.current, label
        started = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        finally:
            profile.current = outer
        profile.record(label, time.perf_counter() - started, len(result))
        return result

    return wrapper


def _recorded(profile: Profile, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(conn, query, params=(), *args, **kwargs):
        if profile.current is not None:
            (jit,) = conn.execute("SELECT current_setting('jit')").fetchone()
            profile.queries.setdefault(profile.current, []).append((query, params, jit))
        return fn(conn, query, params, *args, **kwargs)

    return wrapper


@contextmanager
def instrumented(profile: Profile) -> Iterator[None]:
    """Wrap the timed functions and the query runners of warehouse.accuracy for the block."""
    originals: list[tuple[ModuleType, str, Callable]] = []
    for module, name, label in TIMED:
        originals.append((module, name, getattr(module, name)))
        setattr(module, name, _timed(profile, label, getattr(module, name)))
    for name in QUERY_FUNCTIONS:
        if hasattr(accuracy, name):
            originals.append((accuracy, name, getattr(accuracy, name)))
            setattr(accuracy, name, _recorded(profile, getattr(accuracy, name)))
    try:
        yield
    finally:
        for module, name, fn in reversed(originals):
            setattr(module, name, fn)


def buffers(plan: list[str]) -> str:
    """Shared buffers hit / read of the plan's top node (the first Buffers line)."""
    line = next((line for line in plan if "Buffers:" in line), "")
    hit = re.search(r"shared hit=(\d+)", line)
    read = re.search(r"read=(\d+)", line)
    pages = [int(m.group(1)) if m else 0 for m in (hit, read)]
    return f"shared hit {pages[0]:,} + read {pages[1]:,} pages ({sum(pages) * 8 / 1024:,.0f} MB)"


def plan_summary(plan: list[str]) -> list[str]:
    scans: dict[str, int] = {}
    for line in plan:
        match = re.search(r"(?:->\s+)?((?:Parallel )?[\w ]*?Scan(?: using \w+)?) on (\w+)", line)
        if match and "(never executed)" not in line:
            kind = re.sub(r"product_forecasts_w\d{8}", "<week>", match.group(1))
            table = re.sub(r"_w\d{8}", "_w<week>", match.group(2))
            key = f"{kind} on {table}"
            scans[key] = scans.get(key, 0) + 1
    removed = sum(int(m.group(1)) for m in (re.search(r"Removed: (\d+)", x) for x in plan) if m)
    executed = next((line.strip() for line in plan if line.startswith("Execution Time")), "")
    summary = [f"{count:3d} x {scan}" for scan, count in sorted(scans.items())]
    if removed:
        summary.append(f"subplans removed (pruned at run time): {removed}")
    return [*summary, buffers(plan), executed]


def explain(conn: psycopg.Connection, label: str, query: str, params: object, jit: str) -> None:
    conn.execute("SELECT set_config('jit', %s, false)", (jit,))  # as the query ran
    plan = [row[0] for row in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}", params)]
    print(f"\n=== EXPLAIN (ANALYZE, BUFFERS): {label} (second run; jit {jit})")
    print("    " + " ".join(query.split()))
    print(f"    params: {params}")
    for line in plan:
        print(f"  {line}")
    print("  summary:")
    for line in plan_summary(plan):
        print(f"    {line}")


def score(url: str, attempt: int) -> tuple[pd.DataFrame, Profile]:
    profile = Profile()
    with psycopg.connect(url) as conn:
        week = accuracy.last_complete_week(conn)
        (runs,) = conn.execute(
            "SELECT count(*) FROM forecasts.forecast_runs "
            "WHERE status = 'published' AND forecast_week BETWEEN %s::date - 364 AND %s::date - 7",
            (week, week),
        ).fetchone()
        print(f"\nrun {attempt}: scoring target week {week} ({runs} published runs forecast it)")
        started = time.perf_counter()
        with instrumented(profile):
            components = accuracy.score_week(conn, week)
        scored = time.perf_counter() - started
        started = time.perf_counter()
        stored = accuracy.replace_realised_accuracy(conn, week, components)
        conn.commit()
        profile.record(STORE, time.perf_counter() - started, stored)
    timed = sum(s.seconds for label, s in profile.steps.items() if label != STORE)
    profile.record("score_week, untimed rest (concat, filters)", scored - timed, 0)
    print(f"\n  {'step':44s} {'calls':>5s} {'seconds':>9s} {'rows':>12s}")
    for label, step in profile.steps.items():
        print(f"  {label:44s} {step.calls:5d} {step.seconds:9.2f} {step.rows:12,d}")
    total = scored + profile.steps[STORE].seconds
    print(f"  {'score_week':44s} {'':5s} {scored:9.2f} {len(components):12,d}")
    print(f"  {'score_week + replace_realised_accuracy':44s} {'':5s} {total:9.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident memory of this process: {peak:,.0f} MB")
    return components, profile


def explain_queries(url: str, profile: Profile) -> None:
    with psycopg.connect(url) as conn:
        for label in EXPLAINED:
            for query, params, jit in profile.queries.get(label, [])[:3]:
                explain(conn, label, query, params, jit)


def summarise(components: pd.DataFrame) -> None:
    metrics = scoring.metrics_from_components(components, ["level"])
    print("\nscores of the week, all runs and horizons pooled")
    print(metrics.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(forecast_week=pd.to_datetime(frame["forecast_week"]))
    return frame.sort_values(["run_id", "level", "category", "horizon"], ignore_index=True)


def compare(components: pd.DataFrame, path: Path) -> None:
    saved, new = _sorted(pd.read_parquet(path)), _sorted(components)
    print(f"\ncomparison with {path}: {len(saved):,} saved rows, {len(new):,} new rows")
    keys = saved[KEY_COLUMNS].astype(str)
    if len(saved) != len(new) or not keys.equals(new[KEY_COLUMNS].astype(str)):
        print("  -> DIFFERENT: the keys differ")
        return
    counts = bool((saved[INTEGER_COLUMNS].to_numpy() == new[INTEGER_COLUMNS].to_numpy()).all())
    a, b = saved[FLOAT_COLUMNS].to_numpy(float), new[FLOAT_COLUMNS].to_numpy(float)
    worst = float((np.abs(a - b) / np.maximum(np.abs(a), 1e-300)).max()) if a.size else 0.0
    if not counts or worst > 1e-12:
        verdict = "DIFFERENT"
    else:
        verdict = "identical" if np.array_equal(a, b) else "equal to 1e-12 (not bit-identical)"
    print(
        f"  keys equal; counts {'equal' if counts else 'DIFFERENT'}; sums: max relative "
        f"difference {worst:.2e}\n  -> {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument(
        "--product-weeks", type=int, default=26, help="newest runs with product forecasts"
    )
    parser.add_argument(
        "--fill-workers", type=int, default=2, help="product-forecast partitions filled at a time"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="score the week this many times (cache warms up)"
    )
    parser.add_argument("--server", default=os.environ.get("FORECAST_POSTGRES_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument(
        "--reuse", metavar="NAME", help="score this database (kept by --keep), generate nothing"
    )
    parser.add_argument("--save", type=Path, help="write the scores to this parquet file")
    parser.add_argument("--compare", type=Path, help="compare the scores with this parquet file")
    args = parser.parse_args()
    generation = argparse.Namespace(
        products=args.products,
        categories=args.categories,
        top_n=25,
        weeks=104,
        product_weeks=args.product_weeks,
        sales_products=args.products,
        fill_workers=args.fill_workers,
    )
    server = args.server or databases.start_embedded_postgres(
        Path(tempfile.mkdtemp(prefix="realised_bench_")), keep_running=False
    )
    name = args.reuse or f"realised_bench_{uuid.uuid4().hex[:8]}"
    url = databases.with_database(server, name)
    started = time.perf_counter()
    if not args.reuse:
        databases.ensure_database(server, name)
    try:
        if not args.reuse:
            migrate.upgrade(url)
            generate(url, generation)
        print_sizes(url)
        for attempt in range(1, args.repeat + 1):
            components, profile = score(url, attempt)
        explain_queries(url, profile)
        summarise(components)
        if args.save:
            _sorted(components).to_parquet(args.save, index=False)
            print(f"\nscores written to {args.save}")
        if args.compare:
            compare(components, args.compare)
    finally:
        if args.keep:
            print(f"\nkept database {name}: {url}")
        else:
            databases.drop_database(server, name)
    print(f"\nbenchmark total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
