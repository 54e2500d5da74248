"""Dagster-free indicator features: publication dates and point-in-time (as-of) values."""

# Source clients (FRED via fredapi, Yahoo Finance via yfinance) and their retry policy,
# exported lazily so that importing this package does not import fredapi or yfinance.
_SOURCE_EXPORTS = {
    "FredSource": "forecast_pipeline.indicators.fred",
    "YahooSource": "forecast_pipeline.indicators.yahoo",
    "IndicatorSourceError": "forecast_pipeline.indicators.retry",
    "RetryPolicy": "forecast_pipeline.indicators.retry",
    "call_with_retries": "forecast_pipeline.indicators.retry",
}


def __getattr__(name: str) -> object:
    if name in _SOURCE_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_SOURCE_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
