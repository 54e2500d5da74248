"""Validation of a parsed upload against its contract (file reading + row rules together)."""

from __future__ import annotations

import datetime as dt

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import ValidationOutcome, validate_frame
from forecast_pipeline.ingest.parsing import ParsedUpload, read_upload


def validate_upload(
    upload: ParsedUpload, contract: DataContract, *, as_of: dt.date
) -> ValidationOutcome:
    """Validate the parsed rows; malformed records count as read and rejected (``field_count``)."""
    return validate_frame(contract, upload.frame, as_of=as_of)


def check_upload(
    data: bytes, filename: str, contract: DataContract, *, as_of: dt.date
) -> tuple[ParsedUpload, ValidationOutcome]:
    """Read and validate an uploaded file. Raises ``UploadRejected`` for file-level problems."""
    upload = read_upload(data, filename, contract)
    return upload, validate_upload(upload, contract, as_of=as_of)
