"""Opt-in: Tableau's "Sample - Superstore" order lines load through the ``superstore`` profile.

Reads ``../shared/data/retail/superstore_orders.csv`` in place (public reference data,
never copied into the project) and skips when it is absent. The expected figures are
recomputed from the file with the csv module, independently of the ingest code.
"""

import csv
import datetime as dt
import io
import time
from collections import defaultdict
from pathlib import Path

import pytest

from forecast_pipeline.ingest import check_upload, load_mappings, mapping_for

SUPERSTORE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "retail"
    / "superstore_orders.csv"
)

pytestmark = [
    pytest.mark.reference_data,
    pytest.mark.skipif(not SUPERSTORE.is_file(), reason=f"{SUPERSTORE} is absent"),
]


@pytest.fixture(scope="module")
def data() -> bytes:
    return SUPERSTORE.read_bytes()


@pytest.fixture(scope="module")
def lines(data) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.fixture(scope="module")
def loaded(data, sales_contract):
    mapping = mapping_for("superstore/superstore_orders.csv", load_mappings())
    assert mapping is not None and mapping.name == "superstore"
    started = time.perf_counter()
    parsed, outcome = check_upload(
        data, "superstore_orders.csv", sales_contract, as_of=dt.date(2023, 1, 1), mapping=mapping
    )
    return parsed, outcome, time.perf_counter() - started


def test_every_line_is_read_and_accepted(loaded, lines):
    parsed, outcome, _ = loaded
    assert len(lines) == 10194  # the README's 10,194 rows
    assert outcome.rows_read == len(lines) == 10194
    # the export is clean: no line breaks a rule of the contract
    assert set(map(tuple, outcome.rejections[["line_number", "rule"]].values.tolist())) == set()
    assert (outcome.rows_accepted, outcome.rows_rejected) == (10194, 0)
    assert parsed.encoding == "utf-8" and parsed.delimiter == ","


def test_daily_rows_units_and_products(loaded, lines):
    _, outcome, _ = loaded
    daily = outcome.accepted
    day_products = {(line["Order Date"], line["Product ID"]) for line in lines}
    assert outcome.daily_rows == len(daily) == len(day_products) == 10088
    assert daily["source_lines"].sum() == 10194
    assert int(daily["units"].sum()) == sum(int(line["Quantity"]) for line in lines) == 38654
    assert daily["revenue"].sum() == pytest.approx(sum(float(line["Sales"]) for line in lines))
    assert daily["product_id"].nunique() == 1862
    assert set(daily["store_id"]) == {"main"}
    assert daily["date"].min() == dt.datetime(2019, 1, 3)
    assert daily["date"].max() == dt.datetime(2022, 12, 30)
    assert not daily.duplicated(["date", "store_id", "product_id"]).any()


def test_one_name_per_product_the_latest_lines(loaded, lines):
    _, outcome, _ = loaded
    names: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, tuple[str, int, str]] = {}
    for number, line in enumerate(lines, start=2):
        product = line["Product ID"]
        names[product].add(line["Product Name"])
        candidate = (line["Order Date"], number, line["Product Name"])
        latest[product] = max(latest.get(product, candidate), candidate)
    assert sum(1 for n in names.values() if len(n) > 1) == 32
    daily = outcome.accepted
    assert daily.groupby("product_id")["product_name"].nunique().max() == 1
    shown = daily.drop_duplicates("product_id").set_index("product_id")["product_name"]
    assert shown.to_dict() == {product: name for product, (_, _, name) in latest.items()}


def test_takes_seconds_not_minutes(loaded):
    _, _, seconds = loaded
    assert seconds < 60
