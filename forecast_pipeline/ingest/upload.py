"""Reading and validating an uploaded file against its contract, in one call."""

from __future__ import annotations

import dataclasses
import datetime as dt

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import ValidationOutcome, validate_frame
from forecast_pipeline.ingest.aggregation import aggregate_to_daily, with_source_lines
from forecast_pipeline.ingest.mapping import ColumnMapping
from forecast_pipeline.ingest.parsing import ParsedUpload, read_upload


def check_upload(
    data: bytes,
    filename: str,
    contract: DataContract,
    *,
    as_of: dt.date,
    mapping: ColumnMapping | None = None,
) -> tuple[ParsedUpload, ValidationOutcome]:
    """Read and validate an uploaded file; malformed records count as read and rejected.

    ``mapping`` renames the file's headers (see ``ColumnMapping``). With a
    transaction-grain mapping every line is validated on its own except for the
    within-file unique-key rule, and the accepted lines are aggregated to the daily
    grain (``aggregate_to_daily``). Either way ``outcome.accepted`` is at the daily
    grain with a ``source_lines`` column (1 for daily-grain files), while
    ``rows_read``, ``rows_accepted``, ``rows_rejected`` and the rejections refer to
    the file's lines; ``outcome.daily_rows`` is ``len(outcome.accepted)``.

    Raises ``UploadRejected`` (a ``ContractViolation``) for file-level problems.
    """
    upload = read_upload(data, filename, contract, mapping=mapping)
    transactions = mapping is not None and mapping.grain == "transaction"
    outcome = validate_frame(contract, upload.frame, as_of=as_of, check_unique_key=not transactions)
    if transactions:
        daily = aggregate_to_daily(outcome.accepted, contract)
    else:
        daily = with_source_lines(outcome.accepted)
    return upload, dataclasses.replace(outcome, accepted=daily)
