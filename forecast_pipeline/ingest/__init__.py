"""Ingestion of merchants' uploaded sales files."""

from forecast_pipeline.ingest.parsing import ParsedUpload, UploadRejected, read_upload
from forecast_pipeline.ingest.upload import check_upload

__all__ = ["ParsedUpload", "UploadRejected", "check_upload", "read_upload"]
