"""Ingestion of merchants' uploaded sales files."""

from forecast_pipeline.ingest.aggregation import SOURCE_LINES, aggregate_to_daily
from forecast_pipeline.ingest.mapping import (
    ColumnMapping,
    InvalidMappingError,
    load_mappings,
    mapping_for,
    mappings_dir,
)
from forecast_pipeline.ingest.parsing import ParsedUpload, UploadRejected, read_upload
from forecast_pipeline.ingest.upload import check_upload

__all__ = [
    "SOURCE_LINES",
    "ColumnMapping",
    "InvalidMappingError",
    "ParsedUpload",
    "UploadRejected",
    "aggregate_to_daily",
    "check_upload",
    "load_mappings",
    "mapping_for",
    "mappings_dir",
    "read_upload",
]
