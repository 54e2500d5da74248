"""Graceful shutdown of the real server: uvicorn in its own process, SIGTERM under load.

Four keep-alive clients hammer ``/api/v1/forecast/top-products`` (every request a new query
string, so a cache miss that reads the database). Then a transaction locks
``forecasts.top_products``, so each client has exactly one request in flight, blocked in the
database, when the server gets SIGTERM. The server must stop accepting connections at once,
keep running until those requests are answered (200) once the lock is released, run the app's
shutdown (pool and run tracker closed: no connection of the API role is left) and exit.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from forecast_pipeline_tests.api_contract.conftest import PublishedWarehouse, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 4
GRACEFUL_SECONDS = 10
HOLD_SECONDS = 1.5  # how long the in-flight requests stay blocked after SIGTERM
REQUEST_TIMEOUT = 15.0  # longer than the hold: a timeout means a request hung


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server(published_warehouse: PublishedWarehouse, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    log_path = tmp_path / "uvicorn.log"
    env = {**os.environ, "FORECAST_API_DATABASE_URL": published_warehouse.api_url}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "forecast_pipeline.api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--timeout-graceful-shutdown",
                str(GRACEFUL_SECONDS),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    started = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{started.log()}")
            try:
                return httpx.get(f"{started.base_url}/api/v1/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 30, "the server's health")
        yield started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None = None
    error: str | None = None


@dataclass
class Client:
    """One keep-alive connection's worth of requests, until the server refuses connections."""

    base_url: str
    key: str
    queries: Iterator[dict[str, str | int]]
    outcomes: list[Outcome] = field(default_factory=list)

    def run(self, give_up: float) -> None:
        with httpx.Client(
            base_url=self.base_url, headers={"X-API-Key": self.key}, timeout=REQUEST_TIMEOUT
        ) as client:
            while time.monotonic() < give_up:
                outcome = Outcome(started=time.monotonic(), ended=0.0)
                try:
                    response = client.get(
                        "/api/v1/forecast/top-products", params=next(self.queries)
                    )
                    outcome.status = response.status_code
                except httpx.TransportError as error:
                    outcome.error = type(error).__name__
                outcome.ended = time.monotonic()
                self.outcomes.append(outcome)
                if outcome.error == "ConnectError":
                    return  # the server no longer accepts connections


def distinct_queries() -> Iterator[dict[str, str | int]]:
    """A new query string every time (each one a cache miss that reads the database)."""
    for n in itertools.count():
        yield {
            "time_period": ("week", "month", "year")[n % 3],
            "limit": 1 + (n // 3) % 100,
            "offset": (n // 300) % 10_001,
        }


def test_sigterm_under_load_finishes_the_requests_in_flight_then_exits(
    server: Server, published_warehouse: PublishedWarehouse
) -> None:
    queries = distinct_queries()
    lock = threading.Lock()

    def next_query() -> Iterator[dict[str, str | int]]:
        while True:
            with lock:
                query = next(queries)
            yield query

    clients = [
        Client(server.base_url, published_warehouse.api_key, next_query()) for _ in range(CLIENTS)
    ]
    give_up = time.monotonic() + 60
    threads = [threading.Thread(target=c.run, args=(give_up,), daemon=True) for c in clients]
    with psycopg.connect(published_warehouse.url, autocommit=True) as admin:
        for thread in threads:
            thread.start()
        # under load for a while: every client gets answers
        wait_until(lambda: all(len(c.outcomes) >= 25 for c in clients), 30, "the load")

        # every client's next request blocks in the database, then SIGTERM
        with psycopg.connect(published_warehouse.url) as locker:
            locker.execute("LOCK TABLE forecasts.top_products IN ACCESS EXCLUSIVE MODE")
            wait_until(
                lambda: published_warehouse.api_connections(admin)[1] == CLIENTS,
                10,
                f"{CLIENTS} API requests blocked on the lock",
            )
            sigterm_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)

            # new connections are refused at once (not left hanging) ...
            def refused() -> bool:
                try:
                    httpx.get(f"{server.base_url}/api/v1/health", timeout=2)
                except httpx.ConnectError:
                    return True
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    # accepted just before the server stopped listening, then closed unanswered
                    # by its shutdown: a race of the signal, not a hang
                    return False
                return False

            wait_until(refused, 3, "the server to refuse new connections")
            # ... while the server keeps running for the requests in flight
            time.sleep(HOLD_SECONDS)
            assert server.process.poll() is None, "the server exited with requests in flight"
            assert published_warehouse.api_connections(admin)[1] == CLIENTS
            released_at = time.monotonic()
            locker.rollback()

        returncode = server.process.wait(GRACEFUL_SECONDS)
        exited_after = time.monotonic() - released_at
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
            assert not thread.is_alive(), "a client hung"

        log = server.log()
        # uvicorn (>= 0.29) re-raises the SIGTERM it handled once it has shut down cleanly: the
        # process ends by that signal (exit status 143 in a shell), as it would without a handler
        assert returncode == -signal.SIGTERM, f"exit status {returncode}:\n{log}"
        assert exited_after < 3, f"exited {exited_after:.1f}s after the requests could finish"
        for line in (
            "Shutting down",
            "Waiting for connections to close",
            "Waiting for application shutdown.",
            "Application shutdown complete.",
            f"Finished server process [{server.process.pid}]",
        ):
            assert line in log, f"{line!r} not in the server's log:\n{log}"
        assert "Traceback" not in log and "ERROR" not in log, log

        for number, client in enumerate(clients):
            before = [o for o in client.outcomes if o.ended < sigterm_at]
            in_flight = [o for o in client.outcomes if o.started < sigterm_at <= o.ended]
            after = [o for o in client.outcomes if o.started >= sigterm_at]
            # under load and in flight at SIGTERM: answered, and with 200 only (no 5xx)
            assert before and all(o.status == 200 for o in before), (number, before[-3:])
            assert len(in_flight) == 1, (number, in_flight)
            assert in_flight[0].status == 200, (number, in_flight)
            assert in_flight[0].ended >= released_at, "answered before the lock was released?"
            # then the next connection is refused; nothing hung, nothing else failed
            assert [o.error for o in after] == ["ConnectError"], (number, after)

        # the pool and the run tracker's LISTEN connection were closed
        wait_until(
            lambda: published_warehouse.api_connections(admin)[0] == 0,
            5,
            "the API role's connections to close",
        )

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/api/v1/health", timeout=2)
