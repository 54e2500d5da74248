"""Deterministic synthetic data for a merchant: daily sales, quarterly CSV uploads, indicators.

``generate_daily_sales`` builds the sales frame, ``write_sales_uploads`` exports it as the CSV
files a merchant would upload, and ``generate_indicators`` provides macro and market series for
the offline demo. All output is a pure function of a ``SampleConfig``.
"""

from forecast_pipeline.sample.config import SampleConfig
from forecast_pipeline.sample.indicators import (
    INDICATOR_COLUMNS,
    INDICATOR_SERIES,
    generate_indicators,
)
from forecast_pipeline.sample.sales import SALES_COLUMNS, generate_daily_sales
from forecast_pipeline.sample.uploads import (
    sales_to_csv_bytes,
    upload_file_name,
    write_sales_uploads,
)

__all__ = [
    "INDICATOR_COLUMNS",
    "INDICATOR_SERIES",
    "SALES_COLUMNS",
    "SampleConfig",
    "generate_daily_sales",
    "generate_indicators",
    "sales_to_csv_bytes",
    "upload_file_name",
    "write_sales_uploads",
]
