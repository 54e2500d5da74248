"""What every upload reader shares: the file-level rejection, the parsed result, headers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from forecast_pipeline.contracts.errors import ContractViolation
from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import RowRejection, malformed_rejections
from forecast_pipeline.ingest.mapping import ColumnMapping, normalize_header


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


def map_columns(
    header: list[str], contract: DataContract, mapping: ColumnMapping | None = None
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    positions, written, ignored = _map_header(header, contract, mapping)
    return positions, written, [name for name in ignored if name]
