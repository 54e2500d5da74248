"""API throughput and latency under load, against the ceiling of this machine.

A fresh database (``api_bench_<suffix>``, dropped at the end unless ``--keep``) is migrated to
head and one realistic run is published through ``publishing.publish_forecast_run``:
``--products`` products (default 2,000) in ``--categories`` categories (default 20) with 52
weeks of product forecasts, the top ``--top-n`` (default 25) products per category and period,
category forecasts and outlook, and ``--history-weeks`` (default 156) weeks of category history.
An API key with a very high rate limit is created (the limiter still runs on every request).

Two servers are started with the same uvicorn command line (``python -m uvicorn ... --factory
--host 127.0.0.1 --no-access-log --log-level warning``, uvloop and httptools when installed,
``--workers`` processes, default 1):

* the API (``forecast_pipeline.api.app:create_app``), connecting as the ``forecast_api`` role;
* the ceiling: a raw ASGI app (no framework) that answers each benchmarked request with the
  exact bytes the API returned for it (fetched from the API first) and the same headers
  (content-type, ETag, Cache-Control, X-Forecast-Run): what uvicorn, with the same workers,
  can do on this machine when the application costs nothing.

For each endpoint (top products, month, limit 10; categories, month; one category's trends, 12
weeks) the API and then the ceiling are warmed up (``--warmup`` requests on one connection, the
first one fills the API's per-run response cache, so the load measures the cached path every
client sees between publications), then loaded with ``wrk -t1 -c<connections> -d<duration>s
--latency`` (default 64 connections, 10 s) sending the API key. wrk's requests/s, p50 and p99
(its latency distribution) and errors (socket errors plus non-2xx/3xx responses) are reported
with the ratio of the API's requests/s to the ceiling's.

CPU placement on 2 cores: wrk and the server compete for the CPU, so wrk gets one thread
(``-t1``; one wrk thread drives far more requests/s than a Python server) and runs in two
placements (``--placement``, default both with one worker): ``shared`` lets the scheduler put
wrk and the server anywhere; ``pinned`` pins wrk to the first core and the server (all its
threads) to the second with ``sched_setaffinity`` (what ``taskset`` does), so the server has a
core of its own and wrk never steals it. With ``--workers 2`` only ``shared`` is run (two
workers pinned to one core would just share it). Postgres is not pinned; on the cached path the
API only reads the key record when its key cache expires (every 5 s by default). Besides
wrk's figures the tables show the CPU time of the server and of wrk over each load (a server
below 100% of its core was starved by other processes, so compare with the load average) and
the server's CPU time per request, the figure least sensitive to a busy machine. Other
``FORECAST_API_*`` variables in the environment reach the API (they are listed).

Goal (per endpoint): at least half the ceiling's requests/s, p99 under 25 ms, zero errors.

Usage: .venv/bin/python benchmarks/api.py [--products 2000] [--categories 20] [--top-n 25]
[--history-weeks 156] [--duration 10] [--connections 64] [--warmup 200] [--workers 1]
[--placement both|shared|pinned] [--server URL] [--keep] [--verbose]
(the server defaults to FORECAST_POSTGRES_URL, else an embedded one). At the defaults the run
takes about 2 minutes (12 loads of 10 s; 1 minute with ``--workers 2``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import math
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

CEILING_ENV = "FORECAST_BENCH_CEILING_RESPONSES"
GOAL_RATIO, GOAL_P99_MS = 0.5, 25.0
PERIODS = {"week": 1, "month": 4, "year": 52}
HORIZON = 52
CATEGORY_NAMES = [
    "bakery", "beverages", "breakfast", "canned goods", "cleaning", "dairy", "deli",
    "frozen", "fruit", "household", "meat", "pasta & rice", "personal care", "pet care",
    "sauces", "seafood", "snacks", "spices", "sweets", "vegetables",
]  # fmt: skip
TRENDS_CATEGORY = "dairy"


# --- the ceiling: a raw ASGI app serving recorded responses (run by uvicorn, see --factory) ---


def ceiling_app():
    """The ceiling's ASGI app: ``path?query`` -> the recorded status, headers and body.

    The responses come from the JSON file named by ``FORECAST_BENCH_CEILING_RESPONSES``
    (``{target: {"status", "headers": [[name, value]], "body": base64}}``); anything else is a
    404. Serve it with ``uvicorn api:ceiling_app --factory --app-dir benchmarks``.
    """
    recorded = json.loads(Path(os.environ[CEILING_ENV]).read_text())
    routes: dict[str, tuple[dict, dict]] = {}
    for target, item in recorded.items():
        body = base64.b64decode(item["body"])
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in item["headers"]]
        headers.append((b"content-length", str(len(body)).encode()))
        start = {"type": "http.response.start", "status": item["status"], "headers": headers}
        routes[target] = (start, {"type": "http.response.body", "body": body})
    missing = (
        {"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]},
        {"type": "http.response.body", "body": b""},
    )

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        query = scope["query_string"]
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        start, body = routes.get(target, missing)
        await send(start)
        await send(body)

    return app


# --- the published run ---


def season(days: object):
    import numpy as np

    return 1 + 0.3 * np.sin(2 * np.pi * np.asarray(days, dtype=float) / 364.0)


def generate_run(week: date, args: argparse.Namespace, seed: int = 0):
    """One realistic run of ``week`` (a Monday, the last week of sales it used): the frames of
    ``publishing.PublishedTables``. Forecasts start the Monday after (the origin)."""
    import numpy as np
    import pandas as pd

    from forecast_pipeline.warehouse.publishing import PublishedTables

    rng = np.random.default_rng(seed)
    n, names = args.products, category_names(args.categories)
    origin = week + timedelta(days=7)
    ids = np.array([f"P{i:06d}" for i in range(1, n + 1)], dtype=object)
    category = np.array(names, dtype=object)[np.arange(n) % len(names)]
    level = 0.1 * np.exp(8 * rng.random(n) ** 2)  # units per week, most products slow movers
    price = np.round(2 + 98 * rng.random(n), 2)
    cold = rng.random(n) < 0.03
    epoch = date(2000, 1, 3)

    steps = np.arange(1, HORIZON + 1)
    targets = [origin + timedelta(weeks=int(s) - 1) for s in steps]
    target_season = season([(t - epoch).days for t in targets])
    units = level[:, None] * target_season[None, :] * (0.9 + 0.2 * rng.random((n, HORIZON)))
    width = 0.15 + 0.005 * steps
    flat_units = units.ravel()
    flat_width = np.tile(width, n)
    product_forecasts = pd.DataFrame(
        {
            "product_id": np.repeat(ids, HORIZON),
            "category": np.repeat(category, HORIZON),
            "target_week": pd.to_datetime(np.tile(np.array(targets, dtype="datetime64[D]"), n)),
            "step": np.tile(steps, n).astype(np.int32),
            "units": flat_units,
            "lower_80": flat_units * (1 - flat_width),
            "upper_80": flat_units * (1 + flat_width),
            "lower_95": flat_units * np.maximum(0, 1 - 1.6 * flat_width),
            "upper_95": flat_units * (1 + 1.6 * flat_width),
            "cold_start": np.repeat(cold, HORIZON),
        }
    )

    # category and total levels: sums of the product forecasts, history over --history-weeks
    groups = {name: category == name for name in names} | {"total": np.ones(n, dtype=bool)}
    history_weeks = [week - timedelta(weeks=k) for k in range(args.history_weeks - 1, -1, -1)]
    history_season = season([(w - epoch).days for w in history_weeks])
    forecast_rows, outlook_rows, history_rows = [], [], []
    for name, members in groups.items():
        kind = "total" if name == "total" else "category"
        weekly = units[members].sum(axis=0)
        base = level[members].sum()
        history = base * history_season * (0.85 + 0.3 * rng.random(len(history_weeks)))
        history_rows += [
            {"level": kind, "category": name, "week": w, "units": u}
            for w, u in zip(history_weeks, history, strict=True)
        ]
        for s, t, u, w in zip(steps, targets, weekly, 0.08 + 0.004 * steps, strict=True):
            forecast_rows.append(
                {
                    "level": kind, "category": name, "target_week": t, "step": int(s),
                    "units": u, "lower_80": u * (1 - w), "upper_80": u * (1 + w),
                    "lower_95": u * max(0.0, 1 - 1.6 * w), "upper_95": u * (1 + 1.6 * w),
                }
            )  # fmt: skip
        for period, span in PERIODS.items():
            predicted = float(weekly[:span].sum())
            previous = float(history[-span:].sum())
            last_year = float(history[-52 - span : -52].sum()) if span < 52 else previous
            outlook_rows.append(
                {
                    "level": kind, "category": name, "time_period": period,
                    "predicted_units": predicted, "lower_80": predicted * 0.85,
                    "upper_80": predicted * 1.15, "lower_95": predicted * 0.75,
                    "upper_95": predicted * 1.25, "previous_units": previous,
                    "change_pct": predicted / previous - 1, "last_year_units": last_year,
                    "change_vs_last_year_pct": predicted / last_year - 1,
                    "trend": trend(predicted, previous),
                }
            )  # fmt: skip

    top_rows = []
    for name in names:
        members = np.flatnonzero(category == name)
        for period, span in PERIODS.items():
            predicted_all = units[members, :span].sum(axis=1)
            order = np.lexsort((ids[members], -predicted_all))[: args.top_n]
            for rank, position in enumerate(order, start=1):
                i = members[position]
                predicted = float(predicted_all[position])
                previous = float(level[i] * span * (0.7 + 0.6 * rng.random()))
                last_year = None if cold[i] else float(predicted * (0.6 + 0.8 * rng.random()))
                lower, upper = predicted * 0.8, predicted * 1.25
                direction = trend(predicted, previous)
                if direction == "up" and lower >= previous * 0.95 and lower > 0:
                    action = "stock_up"
                elif direction == "down" and upper <= previous * 1.05:
                    action = "reduce"
                else:
                    action = "hold"
                top_rows.append(
                    {
                        "category": name, "time_period": period, "rank": rank,
                        "product_id": ids[i], "product_name": f"Product {ids[i][1:]}",
                        "predicted_units": predicted, "lower_80": lower, "upper_80": upper,
                        "previous_units": previous, "change_pct": predicted / previous - 1,
                        "trend": direction, "unit_price": float(price[i]),
                        "predicted_revenue": predicted * float(price[i]),
                        "last_year_units": last_year,
                        "change_vs_last_year_pct": None if last_year is None
                        else predicted / last_year - 1,
                        "action": action, "cold_start": bool(cold[i]),
                    }
                )  # fmt: skip
    return PublishedTables(
        product_forecasts=product_forecasts,
        top_products=pd.DataFrame(top_rows),
        category_forecasts=pd.DataFrame(forecast_rows),
        category_outlook=pd.DataFrame(outlook_rows),
        category_history=pd.DataFrame(history_rows),
    )


def trend(predicted: float, previous: float) -> str:
    if previous == 0:
        return "up" if predicted > 0 else "flat"
    change = predicted / previous - 1
    return "flat" if abs(change) < 0.05 else ("up" if change > 0 else "down")


def category_names(count: int) -> list[str]:
    names = CATEGORY_NAMES[:count]
    return names + [f"category {i:03d}" for i in range(len(names) + 1, count + 1)]


def publish(url: str, args: argparse.Namespace) -> tuple[str, int]:
    """Publish one run for last week; returns its id and the rows published."""
    import psycopg

    from forecast_pipeline.warehouse.publishing import (
        ForecastRun,
        ensure_week_partition,
        publish_forecast_run,
    )

    today = date.today()
    week = today - timedelta(days=today.weekday() + 7)  # Monday of the last complete week
    tables = generate_run(week, args)
    run_id = uuid.uuid4().hex
    run = ForecastRun(
        run_id=run_id,
        partition_key=week.isoformat(),
        origin=week + timedelta(days=7),
        model_name="weekly_units",
        model_version="3",
        mlflow_run_id=f"mlflow-{run_id[:8]}",
        dagster_run_id=f"dagster-{run_id[:8]}",
        data_start=week - timedelta(weeks=args.history_weeks - 1),
        data_end=week + timedelta(days=6),
        horizon_weeks=HORIZON,
        n_products=args.products,
    )
    with psycopg.connect(url) as conn:
        ensure_week_partition(conn, week)
        conn.commit()
        publish_forecast_run(conn, run, tables)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE)")
    rows = sum(
        len(frame)
        for frame in (
            tables.product_forecasts, tables.top_products, tables.category_forecasts,
            tables.category_outlook, tables.category_history,
        )
    )  # fmt: skip
    return run_id, rows


def create_api_key(url: str) -> str:
    import psycopg

    from forecast_pipeline.api.keys import create_key

    with psycopg.connect(url) as conn:
        _, key = create_key(conn, "api benchmark", rate_limit_per_minute=2_000_000_000)
        conn.commit()
    return key


# --- servers ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_flavour() -> tuple[list[str], str]:
    """uvicorn's event loop and HTTP parser options, and what they are."""
    import uvicorn

    options, described = [], [f"uvicorn {uvicorn.__version__}"]
    try:
        import uvloop

        options += ["--loop", "uvloop"]
        described.append(f"uvloop {uvloop.__version__}")
    except ImportError:
        options += ["--loop", "asyncio"]
        described.append("asyncio loop (uvloop not installed)")
    try:
        import httptools

        options += ["--http", "httptools"]
        described.append(f"httptools {httptools.__version__}")
    except ImportError:
        options += ["--http", "h11"]
        described.append("h11 (httptools not installed)")
    return options, ", ".join(described)


class Server:
    """A uvicorn process on a free loopback port."""

    def __init__(
        self,
        label: str,
        app: str,
        args: argparse.Namespace,
        env: dict[str, str],
        flavour: list[str],
        app_dir: str | None = None,
    ) -> None:
        self.label = label
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
            *flavour,
        ]
        if app_dir:
            command += ["--app-dir", app_dir]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait(self, path: str, headers: dict[str, str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"{self.label} exited ({code}):\n{self.output()}")
            try:
                status, _, _ = fetch(self.port, path, headers)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} not ready in {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.2)

    def pids(self) -> list[int]:
        """The uvicorn process and its descendants (the workers)."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
        return found

    def pin(self, cpus: set[int]) -> None:
        """Every thread of every process of the server on ``cpus`` (like ``taskset -a -p``)."""
        for pid in self.pids():
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):  # a thread that just ended
                    os.sched_setaffinity(int(task.name), cpus)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()


def fetch(
    port: int, target: str, headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def warm_up(port: int, target: str, headers: dict[str, str], count: int) -> None:
    """``count`` requests on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(count):
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"warm-up of {target}: HTTP {response.status}")
    finally:
        conn.close()


# --- wrk ---


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_seconds: float  # the server's CPU time during the load
    wrk_cpu_seconds: float
    seconds: float
    text: str


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(text: str) -> tuple[float, float, float, int, int]:
    """requests/s, p50 ms, p99 ms, requests, errors (socket errors + non-2xx/3xx responses)."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = latency_ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = latency_ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    errors = 0
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if sockets:
        errors += sum(int(g) for g in sockets.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return rps, p50, p99, requests, errors


def run_wrk(
    wrk: str,
    server: Server,
    target: str,
    key: str,
    args: argparse.Namespace,
    wrk_cpus: set[int] | None,
) -> Load:
    command = [
        wrk,
        "-t1",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "--timeout",
        "5s",
        "-H",
        f"X-API-Key: {key}",
        server.base + target,
    ]
    preexec = (lambda: os.sched_setaffinity(0, wrk_cpus)) if wrk_cpus else None
    cpu_before, started = server.cpu_seconds(), time.perf_counter()
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the servers are not reaped yet
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        timeout=args.duration + 60,
        check=False,
    )
    seconds = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (wrk_after.ru_utime + wrk_after.ru_stime) - (
        wrk_before.ru_utime + wrk_before.ru_stime
    )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    rps, p50, p99, requests, errors = parse_wrk(result.stdout)
    return Load(rps, p50, p99, requests, errors, cpu, wrk_cpu, seconds, result.stdout)


# --- the benchmark ---


def targets(args: argparse.Namespace) -> dict[str, str]:
    return {
        "top-products": "/api/v1/forecast/top-products?time_period=month&limit=10",
        "categories": "/api/v1/forecast/categories?time_period=month",
        "trends": f"/api/v1/forecast/trends/{quote(TRENDS_CATEGORY, safe='')}?weeks=12",
    }


def record_responses(api: Server, key: str, args: argparse.Namespace, path: Path) -> dict:
    """Fetch every benchmarked response from the API and write them for the ceiling."""
    recorded = {}
    for label, target in targets(args).items():
        status, headers, body = fetch(api.port, target, {"X-API-Key": key})
        if status != 200:
            raise RuntimeError(f"{label}: HTTP {status}: {body[:300]!r}")
        kept = [(k, v) for k, v in headers if k.lower() not in {"date", "server", "content-length"}]
        recorded[target] = {
            "status": status,
            "headers": kept,
            "body": base64.b64encode(body).decode(),
            "size": len(body),
            "header_names": [k.lower() for k, _ in headers],
        }
    path.write_text(json.dumps(recorded))
    return recorded


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


def meets(api: Load, ceiling: Load) -> bool:
    return api.rps >= GOAL_RATIO * ceiling.rps and api.p99_ms < GOAL_P99_MS and api.errors == 0


def goal(ok: bool) -> str:
    return "yes" if ok else "NO"


def print_table(placement: str, results: dict[str, dict[str, Load]]) -> None:
    print(
        f"\n{placement}: {'endpoint':13s} {'server':8s} {'req/s':>9s} {'p50 ms':>8s} "
        f"{'p99 ms':>8s} {'errors':>7s} {'srv CPU':>8s} {'us/req':>7s} {'wrk CPU':>8s} "
        f"{'ratio':>6s}  goals: ratio >= {GOAL_RATIO}, p99 < {GOAL_P99_MS:.0f} ms, 0 errors"
    )
    pad = " " * (len(placement) + 2)
    for label, pair in results.items():
        api, ceiling = pair["api"], pair["ceiling"]
        ratio = api.rps / ceiling.rps if ceiling.rps else math.nan
        for name, load in (("api", api), ("ceiling", ceiling)):
            line = (
                f"{pad}{label:13s} {name:8s} {load.rps:9,.0f} {load.p50_ms:8.2f} "
                f"{load.p99_ms:8.2f} {load.errors:7d} "
                f"{100 * load.cpu_seconds / load.seconds:7.0f}% "
                f"{1e6 * load.cpu_seconds / max(load.requests, 1):7.0f} "
                f"{100 * load.wrk_cpu_seconds / load.seconds:7.0f}%"
            )
            if name == "api":
                met = meets(api, ceiling)
                line += (
                    f" {ratio:6.2f}  {goal(ratio >= GOAL_RATIO)} / "
                    f"{goal(load.p99_ms < GOAL_P99_MS)} / {goal(load.errors == 0)}"
                    f"  -> {'MET' if met else 'NOT MET'}"
                )
            print(line)
    print(
        f"{pad}srv CPU / wrk CPU: CPU time of the server (all its processes) / of wrk over the "
        "load's wall time (100% = one core; less than the cores allowed = starved by other "
        "processes, or waiting); us/req: the server's CPU time per request, the least noisy "
        "cost figure"
    )


def benchmark(args: argparse.Namespace, api_url: str, key: str, wrk: str) -> None:
    flavour, described = server_flavour()
    env = dict(os.environ, FORECAST_API_DATABASE_URL=api_url)  # other settings: defaults
    passed = sorted(
        k for k in env if k.startswith("FORECAST_API_") and k != "FORECAST_API_DATABASE_URL"
    )
    cpus = sorted(os.sched_getaffinity(0))
    placements = ["shared", "pinned"] if args.placement == "both" else [args.placement]
    if "pinned" in placements and (args.workers > 1 or len(cpus) < 2):
        print("pinned placement skipped: needs one worker and at least 2 cores")
        placements = [p for p in placements if p != "pinned"] or ["shared"]
    print(f"server: {described}; {args.workers} worker(s) each for the API and the ceiling")
    if passed:
        print(f"API settings from the environment (not the defaults): {', '.join(passed)}")
    print(
        f"load: wrk -t1 -c{args.connections} -d{args.duration}s --latency, placements "
        f"{', '.join(placements)}"
    )

    verdicts: dict[str, dict[str, dict[str, Load]]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="api_bench_"))
    responses = workdir / "responses.json"
    api = Server("API", "forecast_pipeline.api.app:create_app", args, env, flavour)
    servers = [api]
    try:
        api.wait("/api/v1/health", {})
        recorded = record_responses(api, key, args, responses)
        ceiling_env = env | {CEILING_ENV: str(responses)}
        ceiling = Server(
            "ceiling",
            "api:ceiling_app",
            args,
            ceiling_env,
            flavour,
            app_dir=str(Path(__file__).resolve().parent),
        )
        servers.append(ceiling)
        first = next(iter(recorded))
        ceiling.wait(first, {})
        print("\nresponses (API = ceiling, byte for byte):")
        for label, target in targets(args).items():
            _, _, body = fetch(ceiling.port, target, {"X-API-Key": key})
            same = body == base64.b64decode(recorded[target]["body"])
            names = ", ".join(recorded[target]["header_names"])
            print(
                f"  {label:13s} {recorded[target]['size']:7,d} bytes, identical: "
                f"{goal(same)}; API headers: {names}"
            )
            if not same:
                raise RuntimeError(f"the ceiling's {label} body differs from the API's")

        for placement in placements:
            wrk_cpus = None
            if placement == "pinned":
                wrk_cpus = {cpus[0]}
                for server in servers:
                    server.pin({cpus[1]})
                print(f"\npinned: wrk on CPU {cpus[0]}, API and ceiling servers on CPU {cpus[1]}")
            else:
                for server in servers:
                    server.pin(set(cpus))
            results: dict[str, dict[str, Load]] = {}
            verdicts[placement] = results
            for label, target in targets(args).items():
                results[label] = {}
                for name, server in (("api", api), ("ceiling", ceiling)):
                    warm_up(server.port, target, {"X-API-Key": key}, args.warmup)
                    load = run_wrk(wrk, server, target, key, args, wrk_cpus)
                    results[label][name] = load
                    print(
                        f"  {placement} {label} {name}: {load.rps:,.0f} req/s, p50 "
                        f"{load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms, "
                        f"{load.errors} errors",
                        flush=True,
                    )
                    if args.verbose:
                        print(load.text)
            print_table(placement, results)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    for placement, results in verdicts.items():
        met = [label for label, pair in results.items() if meets(pair["api"], pair["ceiling"])]
        print(
            f"acceptance, {placement}: {'MET' if len(met) == len(results) else 'NOT MET'} "
            f"({len(met)} of {len(results)} endpoints meet every goal"
            f"{': ' + ', '.join(met) if met else ''})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--categories", type=int, default=20)
    parser.add_argument("--top-n", type=int, default=25)
    parser.add_argument("--history-weeks", type=int, default=156)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=200, help="requests before each load")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--placement", choices=["both", "shared", "pinned"], default="both")
    parser.add_argument("--server", default=os.environ.get("FORECAST_POSTGRES_URL"))
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--verbose", action="store_true", help="print wrk's full output")
    args = parser.parse_args()
    if args.categories < 1 or args.products < args.categories or args.history_weeks < 104:
        parser.error("need 1 <= categories <= products and history-weeks >= 104")
    if TRENDS_CATEGORY not in category_names(args.categories):
        parser.error(f"the trends load reads category {TRENDS_CATEGORY!r}: use more categories")
    wrk = shutil.which("wrk")
    if wrk is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")

    from forecast_pipeline.warehouse import databases, migrate

    version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    version_line = version.stdout.splitlines()[0].split(" [")[0] if version.stdout else wrk
    print(
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), load average "
        f"{load_average()}; {version_line}"
    )
    server = args.server or databases.start_embedded_postgres(
        Path(tempfile.mkdtemp(prefix="api_bench_pg_")), keep_running=False
    )
    name = f"api_bench_{uuid.uuid4().hex[:8]}"
    databases.ensure_database(server, name)
    url = databases.with_database(server, name)
    started = time.perf_counter()
    try:
        migrate.upgrade(url)
        step = time.perf_counter()
        run_id, rows = publish(url, args)
        print(
            f"published run {run_id}: {args.products:,} products in {args.categories} "
            f"categories, {rows:,} rows in {time.perf_counter() - step:.1f} s"
        )
        key = create_api_key(url)
        benchmark(args, databases.with_database(url, user=databases.API_ROLE), key, wrk)
    finally:
        if args.keep:
            print(f"\nkept database {name}: {url}")
        else:
            databases.drop_database(server, name)
    print(f"\nload average after: {load_average()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
