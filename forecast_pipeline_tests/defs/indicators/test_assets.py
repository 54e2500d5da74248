"""The indicator asset against a FRED-shaped HTTP server on loopback: fetch, then an outage."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dagster as dg
import pandas as pd
import psycopg
import pytest

from forecast_pipeline.defs.indicators.assets import FRESHNESS_CHECK, indicator_observations
from forecast_pipeline.defs.indicators.resources import ExternalIndicators
from forecast_pipeline.defs.resources import LocalLake, Warehouse

FIXTURES = Path(__file__).resolve().parents[2] / "indicators" / "fixtures" / "fred"


class FredReplay(BaseHTTPRequestHandler):
    """Answers /series and /series/observations from the XML fixtures, or fails with a 500."""

    failing = False
    requests: list[str] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        type(self).requests.append(url.path)
        series = parse_qs(url.query)["series_id"][0]
        if type(self).failing:
            body, status = (FIXTURES / "error_500_internal.xml").read_bytes(), 500
        elif url.path.endswith("/series/observations"):
            body, status = (FIXTURES / f"observations_{series}.xml").read_bytes(), 200
        else:
            body, status = (FIXTURES / f"series_{series}.xml").read_bytes(), 200
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fred_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FredReplay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FredReplay.failing, FredReplay.requests = False, []
    yield f"http://127.0.0.1:{server.server_port}/fred"
    server.shutdown()


def _sales_in_2021(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        conn.execute(
            "INSERT INTO warehouse.uploads (upload_id, filename, source_uri, raw_uri, "
            "checksum_sha256, size_bytes, received_at) VALUES ('u', 'u', 'u', 'u', 'x', 1, %s)",
            (datetime.now(UTC),),
        )
        conn.execute(
            "INSERT INTO warehouse.sales_history (sale_date, store_id, product_id, units, "
            "upload_id, line_number) VALUES ('2021-06-01', 'main', 'P1', 1, 'u', 2)"
        )


def test_fetch_then_outage_degrades_to_the_last_good_snapshot(
    fred_server: str, warehouse_url: str, tmp_path: Path
) -> None:
    _sales_in_2021(warehouse_url)
    resources = {
        "indicator_source": ExternalIndicators(
            fred_api_key="test-key",
            fred_series=["UNRATE"],
            market_symbols=[],
            fred_root_url=fred_server,
            attempts=2,
            timeout_seconds=5,
        ),
        "lake": LocalLake(root=str(tmp_path / "lake")),
        "warehouse": Warehouse(url=warehouse_url),
    }
    with dg.instance_for_test() as instance:
        first = dg.materialize([indicator_observations], instance=instance, resources=resources)
        assert first.success
        rows = _stored(warehouse_url)
        assert rows == [
            ("UNRATE", "2020-01-01", 3.6, "2020-05-20", "fred"),
            ("UNRATE", "2020-02-01", 3.5, "2020-05-20", "fred"),
            ("UNRATE", "2020-03-01", 4.4, "2020-05-20", "fred"),
            ("UNRATE", "2020-04-01", 14.7, "2020-05-20", "fred"),
        ]
        assert (tmp_path / "lake" / "indicators" / "last_good" / "UNRATE.parquet").is_file()
        metadata = first.asset_materializations_for_node("warehouse__indicator_observations")[0]
        assert metadata.metadata["stale_series"].value == "none"
        assert metadata.metadata["changed_rows"].value == 4

        FredReplay.failing = True
        second = dg.materialize([indicator_observations], instance=instance, resources=resources)
    assert second.success  # the outage does not fail the run
    assert FredReplay.requests.count("/fred/series") >= 3  # one good call, then 2 attempts
    materialized = second.asset_materializations_for_node("warehouse__indicator_observations")[0]
    assert materialized.metadata["stale_series"].value == "UNRATE"
    assert materialized.metadata["changed_rows"].value == 0
    (check,) = [
        e.asset_check_evaluation_data
        for e in second.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert check.check_name == FRESHNESS_CHECK
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "UNRATE" in check.metadata["fetch_failures"].value
    assert _stored(warehouse_url) == rows  # the last good values are still there


def _stored(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT series_id, observation_date::text, value, published_date::text, source "
            "FROM warehouse.indicator_observations ORDER BY observation_date"
        ).fetchall()


SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


@pytest.mark.reference_data
def test_asset_on_real_series_gives_the_hand_checked_as_of_values(
    warehouse_url: str, tmp_path: Path
) -> None:
    """The asset run on the real FRED and market files kept as a local snapshot.

    Hand-checked in the files: CPIAUCSL as of 2024-04-01 = 311.022 (February 2024; March was
    published 2024-04-15); UNRATE as of 2025-11-15 = 4.4 (September 2025; October 2025 is a
    real gap); ^GSPC as of 2025-09-01 (Labor Day) = 6460.259765625 (Friday 2025-08-29).
    """
    from forecast_pipeline.defs.indicators.resources import SnapshotIndicators
    from forecast_pipeline.indicators.point_in_time import as_of
    from forecast_pipeline.warehouse import indicators

    files = {
        "CPIAUCSL": SHARED_DATA / "macro" / "fred_CPIAUCSL.csv",
        "UNRATE": SHARED_DATA / "macro" / "fred_UNRATE.csv",
        "^GSPC": SHARED_DATA / "market" / "sp500_gspc_daily_close_yahoo.csv",
    }
    if not all(path.is_file() for path in files.values()):
        pytest.skip("../shared/data is not here")
    with psycopg.connect(warehouse_url) as conn:  # sales from mid 2024: fetch from mid 2022
        conn.execute(
            "INSERT INTO warehouse.uploads (upload_id, filename, source_uri, raw_uri, "
            "checksum_sha256, size_bytes) VALUES ('u', 'u', 'u', 'u', 'x', 1)"
        )
        conn.execute(
            "INSERT INTO warehouse.sales_history (sale_date, store_id, product_id, units, "
            "upload_id, line_number) VALUES ('2024-06-01', 'main', 'P1', 1, 'u', 2)"
        )
    resources = {
        "indicator_source": SnapshotIndicators(files={k: str(v) for k, v in files.items()}),
        "lake": LocalLake(root=str(tmp_path / "lake")),
        "warehouse": Warehouse(url=warehouse_url),
    }
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            [indicator_observations], instance=instance, resources=resources
        ).success
    with psycopg.connect(warehouse_url) as conn:
        stored = indicators.load_observations(conn)
    result = as_of(stored, ["2024-04-01", "2025-11-15", "2025-09-01"]).set_index(
        ["as_of", "series_id"]
    )["value"]
    assert result[(pd.Timestamp("2024-04-01"), "CPIAUCSL")] == 311.022
    assert result[(pd.Timestamp("2025-11-15"), "UNRATE")] == 4.4
    assert result[(pd.Timestamp("2025-09-01"), "^GSPC")] == pytest.approx(6460.259765625)
