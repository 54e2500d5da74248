"""A corpus of malformed and tricky merchant uploads, each with its expected outcome.

Every file in ``corpus/`` (bytes exactly as a merchant's tool writes them: BOMs,
Latin-1, CRLF, tabs...) has an entry in ``corpus/expected.yaml``, keyed by file
name. An entry holds either

* ``rejected_file``: a substring of the ``UploadRejected.reason`` of the file, or
* ``rows_read``, ``rows_accepted`` and ``rejections``: the complete list, in order,
  of ``[line_number, column or null, rule]``, plus optional checks:
  ``accepted`` (column -> the accepted rows' values, dates as ``YYYY-MM-DD``,
  missing as null), ``parsed`` (attributes of the ``ParsedUpload``) and
  ``messages`` (line -> a substring of one of that line's rejection messages).

``note`` says what the file is about (not checked). The Excel and Parquet files
are built here, from openpyxl and pandas (``GENERATED``), rather than committed
as binaries; they have entries in ``expected.yaml`` like the others.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from forecast_pipeline.contracts import ValidationOutcome, load_contract
from forecast_pipeline.ingest import ParsedUpload, UploadRejected, check_upload

AS_OF = dt.date(2024, 6, 30)
CORPUS = Path(__file__).parent / "corpus"
EXPECTED_FILE = CORPUS / "expected.yaml"

OUTCOME_KEYS = {"rows_read", "rows_accepted", "rejections"}
OPTIONAL_KEYS = {"note", "accepted", "parsed", "messages"}


# ------------------------------------------------------------ generated files


def _xlsx(rows: list[list[Any]]) -> bytes:
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _parquet(frame: pd.DataFrame) -> bytes:
    pytest.importorskip("pyarrow")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def one_bad_row_xlsx() -> bytes:
    day1, day2 = dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2)
    return _xlsx(
        [
            ["Date", "Store_ID", "Product_ID", "Product_Name", "Category", "Units", "On_Promotion"],
            [day1, "s1", "P1", "Crème brûlée", "desserts", 3, True],
            [day1, "s1", "P2", "Tart", "desserts", "abc", False],
            [day2, "s1", "P1", "Crème brûlée", "desserts", -1, False],
        ]
    )


def excel_cell_types_xlsx() -> bytes:
    day2 = dt.datetime(2024, 3, 2)
    return _xlsx(
        [
            ["date", "product_id", "category", "units", "on_promotion"],
            [dt.datetime(2024, 3, 1), "P1", "food", 3, 1],  # 2: typed date, 1 = true
            [dt.datetime(2024, 3, 1, 14, 30), "P2", "food", 1, 0],  # 3: date with a time
            [45352, "P3", "food", 1, None],  # 4: Excel serial number, no date format
            ["03/01/2024", "P4", "food", 1, None],  # 5: date typed as text
            [dt.date(2024, 3, 2), "P5", "food", 2.0, "YES"],  # 6: float 2.0, text flag
            [day2, "P6", "food", "=1+1", False],  # 7: formula without a cached value
            [day2, 1042, "food", 2.5, False],  # 8: numeric SKU, fractional units
            [day2, "00123", "food", True, None],  # 9: boolean cell as units
            [None, None, None, None, None],  # 10: empty row
            [dt.datetime(2024, 3, 3), 1042, "food", 1, None],  # 11
        ]
    )


def title_row_above_header_xlsx() -> bytes:
    return _xlsx(
        [
            ["Sales report March 2024"],
            [],
            ["date", "product_id", "category", "units"],
            [dt.datetime(2024, 3, 1), "P1", "food", 3],
        ]
    )


def typed_columns_parquet() -> bytes:
    return _parquet(
        pd.DataFrame(
            {
                "date": [
                    dt.date(2024, 3, 1),
                    dt.date(2024, 3, 2),
                    dt.date(2024, 7, 1),
                    dt.date(2024, 3, 3),
                    None,
                ],
                "store_id": ["s1", None, "s1", "s1", "s1"],
                "product_id": pd.Series([1042, 1042, 7, 8, 9], dtype="int64"),
                "category": pd.Categorical(["food", "food", "toys", None, "food"]),
                "units": pd.Series([3.0, -2.0, 1.0, 2.5, 4.0], dtype="float64"),
                "unit_price": [1.5, float("nan"), 2.0, 1.0, -0.5],
                "on_promotion": [True, False, True, None, False],
                "comment": ["a", "b", "c", "d", "e"],
            }
        )
    )


def timestamp_dates_parquet() -> bytes:
    return _parquet(
        pd.DataFrame(
            {
                "date": pd.to_datetime(["2024-03-01 00:00", "2024-03-02 10:30"]),
                "product_id": ["P1", "P2"],
                "category": ["food", "food"],
                "units": [1, 2],
            }
        )
    )


def utc_timestamp_dates_parquet() -> bytes:
    return _parquet(
        pd.DataFrame(
            {
                "date": pd.to_datetime(["2024-03-01", "2024-03-02"]).tz_localize("UTC"),
                "product_id": ["P1", "P2"],
                "category": ["food", "food"],
                "units": [1, 2],
            }
        )
    )


def truncated_parquet() -> bytes:
    data = typed_columns_parquet()
    return data[: len(data) // 2]


def xlsx_saved_as_csv() -> bytes:
    return one_bad_row_xlsx()


GENERATED: dict[str, Callable[[], bytes]] = {
    "one_bad_row.xlsx": one_bad_row_xlsx,
    "excel_cell_types.xlsx": excel_cell_types_xlsx,
    "title_row_above_header.xlsx": title_row_above_header_xlsx,
    "typed_columns.parquet": typed_columns_parquet,
    "timestamp_dates.parquet": timestamp_dates_parquet,
    "utc_timestamp_dates.parquet": utc_timestamp_dates_parquet,
    "truncated.parquet": truncated_parquet,
    "xlsx_saved_as.csv": xlsx_saved_as_csv,
}


# ------------------------------------------------------------------- helpers


def _load_expected() -> dict[str, dict[str, Any]]:
    with EXPECTED_FILE.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


EXPECTED = _load_expected()
ROW_LEVEL = sorted(name for name, entry in EXPECTED.items() if "rows_read" in entry)


def _file_bytes(name: str) -> bytes:
    if name in GENERATED:
        return GENERATED[name]()
    return (CORPUS / name).read_bytes()


@functools.cache
def _check(name: str) -> tuple[ParsedUpload, ValidationOutcome]:
    """``check_upload`` of a corpus file (cached: each GX run takes a moment)."""
    contract = load_contract("sales_upload")
    return check_upload(_file_bytes(name), name, contract, as_of=AS_OF)


def _plain(series: pd.Series) -> list[Any]:
    """Values as YAML writes them: dates as YYYY-MM-DD, missing as None, numpy -> Python."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in series]
    values = series.astype(object).tolist()
    return [None if v is None or v is pd.NA or v != v else v for v in values]


def _rejection_triples(outcome: ValidationOutcome) -> list[list[Any]]:
    frame = outcome.rejections
    return [
        [int(line), column, rule]
        for line, column, rule in zip(
            frame["line_number"], frame["column"], frame["rule"], strict=True
        )
    ]


# --------------------------------------------------------------------- tests


def test_every_corpus_file_has_an_expected_outcome_and_vice_versa():
    on_disk = {p.name for p in CORPUS.iterdir() if p.is_file() and p != EXPECTED_FILE}
    assert not on_disk & set(GENERATED), "a generated file is also committed"
    assert sorted(on_disk | set(GENERATED)) == sorted(EXPECTED)
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name: str):
    expected = EXPECTED[name]
    if "rejected_file" in expected:
        assert set(expected) <= {"rejected_file", "note"}, expected
    else:
        assert OUTCOME_KEYS <= set(expected) <= OUTCOME_KEYS | OPTIONAL_KEYS, expected

    if "rejected_file" in expected:
        with pytest.raises(UploadRejected) as info:
            _check(name)
        assert expected["rejected_file"] in info.value.reason
        return

    parsed, outcome = _check(name)
    assert _rejection_triples(outcome) == expected["rejections"]
    assert (outcome.rows_read, outcome.rows_accepted) == (
        expected["rows_read"],
        expected["rows_accepted"],
    )
    for column, values in (expected.get("accepted") or {}).items():
        assert _plain(outcome.accepted[column]) == values, column
    for attribute, value in (expected.get("parsed") or {}).items():
        assert getattr(parsed, attribute) == value, attribute
    for line, text in (expected.get("messages") or {}).items():
        messages = outcome.rejections.loc[outcome.rejections["line_number"] == line, "message"]
        assert any(text in message for message in messages), (line, messages.tolist())


@pytest.mark.parametrize("name", ROW_LEVEL)
def test_corpus_row_accounting(name: str):
    _, outcome = _check(name)
    rejected_lines = set(outcome.rejections["line_number"].tolist())
    accepted_lines = set(outcome.accepted["line_number"].tolist())
    assert outcome.rows_read == outcome.rows_accepted + outcome.rows_rejected
    assert outcome.rows_rejected == len(rejected_lines)
    assert outcome.rows_accepted == len(accepted_lines)
    assert not rejected_lines & accepted_lines
