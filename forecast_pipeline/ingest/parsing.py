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

from pathlib import PurePath

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.ingest.csv_files import read_csv
from forecast_pipeline.ingest.files import ParsedUpload, UploadRejected
from forecast_pipeline.ingest.mapping import ColumnMapping, check_targets
from forecast_pipeline.ingest.workbooks import read_parquet, read_xlsx

__all__ = ["ParsedUpload", "UploadRejected", "read_upload"]

_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


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
        return read_parquet(data, contract, mapping)
    if suffix in _EXCEL_SUFFIXES or (suffix not in _CSV_SUFFIXES and data[:4] == b"PK\x03\x04"):
        return read_xlsx(data, contract, mapping)
    return read_csv(data, contract, mapping)
