"""Parquet and Excel .xlsx uploads, read into the same frame of strings as CSV files."""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import pandas as pd

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import LINE_NUMBER
from forecast_pipeline.ingest.files import ParsedUpload, UploadRejected, map_columns
from forecast_pipeline.ingest.mapping import ColumnMapping


def cell_text(value: Any) -> str | None:
    """A typed cell (Parquet/Excel) as the string a CSV would hold; None when empty."""
    if isinstance(value, str):
        return value.strip() or None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time() and value.tzinfo is None:
            return value.strftime("%Y-%m-%d")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "item"):  # numpy scalar
        return cell_text(value.item())
    return str(value)


def read_parquet(
    data: bytes, contract: DataContract, mapping: ColumnMapping | None = None
) -> ParsedUpload:
    try:
        table = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise UploadRejected(f"the file is not a readable Parquet file ({exc})") from None
    positions, written, ignored = map_columns([str(c) for c in table.columns], contract, mapping)
    if table.empty:
        raise UploadRejected("the file has a header but no data rows")
    frame = pd.DataFrame(
        {
            column: table.iloc[:, position].map(cell_text).astype(object).reset_index(drop=True)
            for column, position in positions.items()
        }
    )
    frame[LINE_NUMBER] = pd.Series(range(2, len(table) + 2), dtype="int64")
    return ParsedUpload(
        frame=frame,
        encoding=None,
        delimiter=None,
        format="parquet",
        columns=written,
        ignored_columns=ignored,
    )


def read_xlsx(
    data: bytes, contract: DataContract, mapping: ColumnMapping | None = None
) -> ParsedUpload:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise UploadRejected(f"the file is not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = workbook.worksheets[0]
        header: list[str] | None = None
        rows: list[tuple[Any, ...]] = []
        lines: list[int] = []
        blank = 0
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if all(cell_text(cell) is None for cell in row):
                if header is not None:
                    blank += 1
                continue
            if header is None:
                header = [cell_text(cell) or "" for cell in row]
                continue
            rows.append(row)
            lines.append(number)
    finally:
        workbook.close()
    if header is None:
        raise UploadRejected("the file is empty")
    positions, written, ignored = map_columns(header, contract, mapping)
    if not rows:
        raise UploadRejected("the file has a header but no data rows")
    frame = pd.DataFrame(
        {
            column: pd.Series(
                [cell_text(row[p]) if p < len(row) else None for row in rows], dtype=object
            )
            for column, p in positions.items()
        }
    )
    frame[LINE_NUMBER] = pd.Series(lines, dtype="int64")
    return ParsedUpload(
        frame=frame,
        encoding=None,
        delimiter=None,
        format="xlsx",
        columns=written,
        ignored_columns=ignored,
        blank_records=blank,
    )
