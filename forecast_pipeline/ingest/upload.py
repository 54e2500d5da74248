"""Reading and validating an uploaded file against its contract, in one call."""

from __future__ import annotations

import datetime as dt

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import ValidationOutcome, validate_frame
from forecast_pipeline.ingest.parsing import ParsedUpload, read_upload


def check_upload(
    data: bytes, filename: str, contract: DataContract, *, as_of: dt.date
) -> tuple[ParsedUpload, ValidationOutcome]:
    """Read and validate an uploaded file; malformed records count as read and rejected.

    Raises ``UploadRejected`` (a ``ContractViolation``) for file-level problems.
    """
    upload = read_upload(data, filename, contract)
    return upload, validate_frame(contract, upload.frame, as_of=as_of)
