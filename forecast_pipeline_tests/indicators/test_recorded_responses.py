"""Every real recording in ``../shared/data/api_responses`` through the production parsers.

Opt-in (``-m reference_data``); skipped when the folder is absent. The recordings are read in
place, never copied into the project.

The FRED recordings were made with ``file_type=json`` (by the R client fredr), while fredapi
requests XML. FRED's JSON ``observations`` items carry exactly the attributes of the XML
``<observation>`` elements, so each one is re-serialised as FRED's XML envelope and fed to
``FredSource`` (hence fredapi's own XML parser); the error recording is fed as recorded
(JSON body, status from its ``.meta.txt``). Yahoo chart bodies are fed as recorded, through
yfinance, via the replaying session.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yfinance
from yfinance.data import YfData

from forecast_pipeline.indicators.fred import FredSource
from forecast_pipeline.indicators.retry import IndicatorSourceError, RetryPolicy
from forecast_pipeline.indicators.yahoo import YahooSource

from .replay import Canned, FakeFredTransport, ReplaySession

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "api_responses"

pytestmark = [
    pytest.mark.reference_data,
    pytest.mark.skipif(not RECORDINGS.is_dir(), reason=f"{RECORDINGS} is absent"),
]

_NO_FREQUENCY_INFO = Canned(
    200, b'<seriess><series id="X" frequency="Not given" frequency_short=""/></seriess>'
)


def _files(folder: str, pattern: str) -> list[Path]:
    root = RECORDINGS / folder
    return sorted(root.glob(pattern)) if root.is_dir() else []


def _as_fred_xml(payload: dict) -> bytes:
    """FRED's XML envelope for a JSON ``series/observations`` payload."""
    envelope = {k: str(v) for k, v in payload.items() if not isinstance(v, list | dict)}
    root = ET.Element("observations", envelope)
    for item in payload["observations"]:
        ET.SubElement(root, "observation", {k: str(v) for k, v in item.items()})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@pytest.mark.parametrize("path", _files("fred", "series_observations_*.json"), ids=lambda p: p.stem)
def test_fred_observations_recording(path: Path) -> None:
    payload = json.loads(path.read_text())
    series_id = path.stem.split("_")[2]
    transport = FakeFredTransport([Canned(200, _as_fred_xml(payload))], _NO_FREQUENCY_INFO)
    fred = FredSource("k" * 32, RetryPolicy(), transport=transport, sleep=lambda s: None)
    frame = fred.observations(series_id, None, None, vintages=False, frequency="monthly")
    items = payload["observations"]
    assert len(frame) == len(items)
    assert list(frame["observation_date"].dt.strftime("%Y-%m-%d")) == [i["date"] for i in items]
    for value, item in zip(frame["value"], items, strict=True):
        if item["value"] == ".":
            assert math.isnan(value)
        else:
            assert value == float(item["value"])
    assert frame["published_date"].isna().all()


@pytest.mark.parametrize("path", _files("fred", "error_*.json"), ids=lambda p: p.stem)
def test_fred_error_recording(path: Path) -> None:
    meta = path.with_suffix(".meta.txt")
    status = int(re.search(r"HTTP status: (\d+)", meta.read_text()).group(1))
    message = json.loads(path.read_text())["error_message"]
    transport = FakeFredTransport([Canned(status, path.read_bytes())])
    fred = FredSource("k" * 32, RetryPolicy(), transport=transport, sleep=lambda s: None)
    with pytest.raises(IndicatorSourceError) as info:
        fred.observations("bad_series_id", None, None)
    assert info.value.series_id == "bad_series_id"
    assert message in str(info.value)
    assert len(transport.urls) == 1


@pytest.fixture
def _isolated_yfinance(tmp_path: Path) -> Iterator[None]:
    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    YfData.cache_get.cache_clear()
    yield
    YfData.cache_get.cache_clear()


@pytest.mark.usefixtures("_isolated_yfinance")
@pytest.mark.parametrize("path", _files("yahoo_chart", "*.json"), ids=lambda p: p.stem)
def test_yahoo_chart_recording(path: Path) -> None:
    body = path.read_bytes()
    result = json.loads(body)["chart"]["result"][0]
    meta, stamps = result["meta"], result.get("timestamp", [])
    session = ReplaySession([Canned(200, body)])
    source = YahooSource(RetryPolicy(), session=session, sleep=lambda s: None)
    if not stamps:
        with pytest.raises(IndicatorSourceError, match="no data"):
            source.observations(meta["symbol"], "2025-02-01", "2025-02-02")
        return
    days = (
        pd.to_datetime(stamps, unit="s", utc=True)
        .tz_convert(meta["exchangeTimezoneName"])
        .tz_localize(None)
        .normalize()
    )
    frame = source.observations(meta["symbol"], days.min(), days.max())
    closes = pd.Series(result["indicators"]["quote"][0]["close"], index=days, dtype="float64")
    closes = closes.dropna()
    assert list(frame["observation_date"]) == list(closes.index)
    assert frame["value"].round(6).tolist() == closes.round(6).tolist()
    assert (frame["published_date"] == frame["observation_date"]).all()
