"""Reading merchants' upload files (CSV, Parquet, Excel .xlsx) into a frame of strings.

The result feeds ``forecast_pipeline.contracts.validate_frame``: one column per
contract column found in the file, values as stripped strings (None where
empty), plus ``line_number``, the line of the file where the record starts
(the header is line 1; for .xlsx it is the sheet's row number; for Parquet
the row index + 2, as if the file had a header line).

With a ``ColumnMapping`` (``forecast_pipeline.ingest.mapping``) the headers it lists
are read as their contract column (case-insensitively, after stripping); contract
columns it does not target still match a header of their own name.

File-level problems raise ``UploadRejected`` with a human-readable ``reason``;
row-level problems never do: a CSV record with the wrong number of fields stays
in the frame, all values None, with its problem in the ``_malformed`` column,
so that ``validate_frame`` counts it as read and rejects it (rule ``field_count``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pandas as pd

from forecast_pipeline.contracts.errors import ContractViolation
from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import (
    LINE_NUMBER,
    MALFORMED,
    RowRejection,
    malformed_rejections,
)
from forecast_pipeline.ingest.csv_records import records, regular_table
from forecast_pipeline.ingest.mapping import ColumnMapping, check_targets, normalize_header

DELIMITERS = (",", ";", "\t")
_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


class UploadRejected(ContractViolation):
    """The whole file is rejected; ``reason`` says why, in words a merchant understands."""


@dataclass
class ParsedUpload:
    frame: pd.DataFrame
    encoding: str | None
    delimiter: str | None
    format: str
    #: contract column -> the header as written in the file
    columns: dict[str, str] = field(default_factory=dict)
    #: header names that are not contract columns (their values are not read)
    ignored_columns: list[str] = field(default_factory=list)
    #: empty records (blank lines, or lines of delimiters only) that were skipped
    blank_records: int = 0
    #: the column mapping applied (None: the file uses the contract's column names)
    mapping: ColumnMapping | None = None

    @property
    def malformed(self) -> list[RowRejection]:
        """Records that could not be mapped to the header (rule ``field_count``)."""
        return malformed_rejections(self.frame)

    @property
    def rows_read(self) -> int:
        return len(self.frame)


def read_upload(
    data: bytes,
    filename: str,
    contract: DataContract,
    *,
    mapping: ColumnMapping | None = None,
) -> ParsedUpload:
    """Parse an uploaded file; the format comes from the extension, else from its content.

    ``mapping`` renames the file's headers to contract columns (see ``ColumnMapping``).
    """
    if mapping is not None:
        if mapping.contract != contract.id:
            raise ValueError(
                f"mapping {mapping.name!r} is for contract {mapping.contract!r}, "
                f"not {contract.id!r}"
            )
        check_targets(mapping, contract)
    parsed = _read(data, filename, contract, mapping)
    parsed.mapping = mapping
    return parsed


def _read(
    data: bytes, filename: str, contract: DataContract, mapping: ColumnMapping | None
) -> ParsedUpload:
    suffix = PurePath(filename).suffix.lower()
    if not data or not data.strip():
        raise UploadRejected("the file is empty")
    if suffix == ".xls":
        raise UploadRejected("legacy Excel .xls files are not supported: save as .xlsx or CSV")
    if suffix in _PARQUET_SUFFIXES or (suffix not in _CSV_SUFFIXES and data[:4] == b"PAR1"):
        return _read_parquet(data, contract, mapping)
    if suffix in _EXCEL_SUFFIXES or (suffix not in _CSV_SUFFIXES and data[:4] == b"PK\x03\x04"):
        return _read_xlsx(data, contract, mapping)
    return _read_csv(data, contract, mapping)


# --------------------------------------------------------------------------- CSV


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes; returns ``(text, encoding)``.

    UTF-8 with BOM, UTF-16 with BOM, then UTF-8; what is not valid UTF-8 is read
    as Windows-1252 (Excel's "CSV" on Western Windows), and as Latin-1 if it
    holds one of the five bytes cp1252 leaves undefined.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise UploadRejected(
                f"the file starts with a UTF-8 mark but byte {exc.start} is not UTF-8: "
                "save it again as UTF-8"
            ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise UploadRejected("the file starts with a UTF-16 mark but is not UTF-16") from None
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _first_line(text: str) -> str:
    for line in io.StringIO(text, newline=""):
        if line.strip():
            return line.rstrip("\r\n")
    return ""


def header_lookup(contract: DataContract, mapping: ColumnMapping | None = None) -> dict[str, str]:
    """Normalized header (see ``normalize_header``) -> contract column.

    Without a mapping, every contract column is read from a header of its own name.
    With one, its headers are read as their target columns, and the contract columns
    it does not target still match a header of their own name.
    """
    lookup: dict[str, str] = {}
    targets: set[str] = set()
    if mapping is not None:
        for header, column in mapping.columns.items():
            lookup[normalize_header(header)] = column
            targets.add(column)
    for column in contract.column_names:
        if column not in targets:
            lookup.setdefault(normalize_header(column), column)
    return lookup


def detect_delimiter(
    header_line: str, contract: DataContract, *, mapping: ColumnMapping | None = None
) -> str:
    """The delimiter among , ; and tab that splits the header into the most contract
    columns (headers of ``mapping`` included; then into the most fields); comma when
    nothing splits it."""
    known = set(header_lookup(contract, mapping))

    def score(delimiter: str) -> tuple[int, int]:
        fields = next(csv.reader([header_line], delimiter=delimiter), [])
        matched = sum(1 for f in fields if normalize_header(f) in known)
        return matched, len(fields)

    best = max(DELIMITERS, key=score)
    return best if score(best)[1] > 1 or score(best)[0] > 0 else ","


def _map_header(
    header: list[str], contract: DataContract, mapping: ColumnMapping | None = None
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Positions of the contract columns in ``header``; raises for missing/duplicates."""
    lookup = header_lookup(contract, mapping)
    positions: dict[str, int] = {}
    written: dict[str, str] = {}
    ignored: list[str] = []
    for position, raw_name in enumerate(header):
        name = raw_name.strip().lstrip("\ufeff").strip()
        column = lookup.get(normalize_header(name))
        if column is None:
            ignored.append(name)
            continue
        if column in positions:
            raise UploadRejected(
                f"column {column!r} appears twice in the header "
                f"(as {written[column]!r} and {name!r})"
            )
        positions[column] = position
        written[column] = name
    missing = [c for c in contract.required_columns if c not in positions]
    if missing:
        mapped = mapping.header_for if mapping is not None else {}
        names = [f"{mapped[c]} ({c})" if c in mapped else c for c in missing]
        raise UploadRejected(f"missing required columns: {', '.join(names)}")
    return positions, written, ignored


def _read_csv(
    data: bytes, contract: DataContract, mapping: ColumnMapping | None = None
) -> ParsedUpload:
    text, encoding = decode(data)
    if "\x00" in text:
        raise UploadRejected("the file contains NUL bytes: it is not a CSV text file")
    if not text.strip():
        raise UploadRejected("the file is empty")
    delimiter = detect_delimiter(_first_line(text), contract, mapping=mapping)
    first_fields = next(csv.reader([_first_line(text)], delimiter=delimiter))
    table = regular_table(text, delimiter, len(first_fields))
    if table is not None:
        positions, written, ignored = _map_columns(first_fields, contract, mapping)
        rows = table.slice(1)
        if rows.num_rows == 0:
            raise UploadRejected("the file has a header but no data rows")
        frame = pd.DataFrame(
            {column: rows.column(p).to_pandas().astype(object) for column, p in positions.items()}
        )
        frame[LINE_NUMBER] = pd.Series(range(2, rows.num_rows + 2), dtype="int64")
        return ParsedUpload(frame, encoding, delimiter, "csv", written, ignored)
    return _read_csv_records(text, encoding, delimiter, contract, mapping)


def _read_csv_records(
    text: str,
    encoding: str,
    delimiter: str,
    contract: DataContract,
    mapping: ColumnMapping | None,
) -> ParsedUpload:
    header: list[str] | None = None
    positions: dict[str, int] = {}
    written: dict[str, str] = {}
    ignored: list[str] = []
    values: dict[str, list[str | None]] = {}
    lines: list[int] = []
    problems: list[str | None] = []
    blank = 0
    for record in records(text, delimiter):
        if record.fields is not None and not any(f.strip() for f in record.fields):
            if header is not None:
                blank += 1
            continue
        if header is None:
            if record.fields is None:
                raise UploadRejected(f"line {record.line}: the header is not valid CSV")
            header = record.fields
            positions, written, ignored = _map_columns(header, contract, mapping)
            values = {column: [] for column in positions}
            continue
        lines.append(record.line)
        if record.fields is None or len(record.fields) != len(header):
            if record.fields is None:
                problems.append(record.problem)
            else:
                span = record.last_line > record.line
                problems.append(
                    f"expected {len(header)} fields, found {len(record.fields)}"
                    + (f"; the record spans lines {record.line}-{record.last_line}" if span else "")
                )
            for column in positions:
                values[column].append(None)
            continue
        problems.append(None)
        for column, position in positions.items():
            value = record.fields[position].strip()
            values[column].append(value or None)

    if header is None:
        raise UploadRejected("the file is empty")
    if not lines:
        raise UploadRejected("the file has a header but no data rows")
    frame = pd.DataFrame({column: pd.Series(v, dtype=object) for column, v in values.items()})
    frame[LINE_NUMBER] = pd.Series(lines, dtype="int64")
    if any(problem is not None for problem in problems):
        frame[MALFORMED] = pd.Series(problems, dtype=object)
    return ParsedUpload(
        frame=frame,
        encoding=encoding,
        delimiter=delimiter,
        format="csv",
        columns=written,
        ignored_columns=ignored,
        blank_records=blank,
    )


# --------------------------------------------------------------- Parquet / Excel


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


def _map_columns(
    header: list[str], contract: DataContract, mapping: ColumnMapping | None = None
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    positions, written, ignored = _map_header(header, contract, mapping)
    return positions, written, [name for name in ignored if name]


def _read_parquet(
    data: bytes, contract: DataContract, mapping: ColumnMapping | None = None
) -> ParsedUpload:
    try:
        table = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise UploadRejected(f"the file is not a readable Parquet file ({exc})") from None
    positions, written, ignored = _map_columns([str(c) for c in table.columns], contract, mapping)
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


def _read_xlsx(
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
    positions, written, ignored = _map_columns(header, contract, mapping)
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
