"""CSV uploads: encoding, delimiter, and records with the line each starts on."""

from __future__ import annotations

import csv
import io

import pandas as pd

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import LINE_NUMBER, MALFORMED
from forecast_pipeline.ingest.csv_records import records, regular_table
from forecast_pipeline.ingest.files import (
    ParsedUpload,
    UploadRejected,
    header_lookup,
    map_columns,
)
from forecast_pipeline.ingest.mapping import ColumnMapping, normalize_header

DELIMITERS = (",", ";", "\t")


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


def read_csv(
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
        positions, written, ignored = map_columns(first_fields, contract, mapping)
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
            positions, written, ignored = map_columns(header, contract, mapping)
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
