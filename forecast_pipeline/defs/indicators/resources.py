"""Where indicator observations come from: FRED and Yahoo Finance, local CSV snapshots, or
synthetic series for the offline demo. Each source answers one series at a time, so that the
asset can degrade series by series."""

import functools
from datetime import date

import dagster as dg
import pandas as pd


class IndicatorSource(dg.ConfigurableResource):
    """Where macro and market indicator observations come from, one series at a time.

    ``fetch`` returns the long indicator frame (series_id, observation_date, value,
    published_date, source, frequency) with every published_date set, and raises
    ``IndicatorSourceError`` when the source cannot answer after its retries.
    """

    def series_ids(self) -> list[str]:
        raise NotImplementedError

    def fetch(self, series_id: str, start: date, end: date) -> pd.DataFrame:
        raise NotImplementedError


class SyntheticIndicators(IndicatorSource):
    """Deterministic synthetic FRED-like and market-like series for the offline demo.

    Every row is stored with ``source = 'synthetic'``.
    """

    seed: int = 7

    def series_ids(self) -> list[str]:
        from forecast_pipeline.sample import INDICATOR_SERIES

        return list(INDICATOR_SERIES)

    def fetch(self, series_id: str, start: date, end: date) -> pd.DataFrame:
        """The series over [start, end] as published by ``end``; the same values every day."""
        frame = _synthetic_indicators(self.seed)
        keep = (
            (frame["series_id"] == series_id)
            & (frame["observation_date"] >= pd.Timestamp(start))
            & (frame["published_date"] <= pd.Timestamp(end))
        )
        return frame[keep].reset_index(drop=True)


# The synthetic series are generated once over a fixed span, so that fetching another window
# (or on another day) never changes a value already stored.
SYNTHETIC_SPAN = (date(2016, 1, 4), date(2030, 12, 31))


@functools.lru_cache(maxsize=4)
def _synthetic_indicators(seed: int) -> pd.DataFrame:
    from forecast_pipeline.sample import SampleConfig, generate_indicators

    start, end = SYNTHETIC_SPAN
    return generate_indicators(SampleConfig(seed=seed, start=start, end=end))


DEFAULT_FRED_SERIES = ["CPIAUCSL", "UNRATE", "UMCSENT", "RSXFS", "A191RL1Q225SBEA"]
DEFAULT_MARKET_SYMBOLS = ["^GSPC", "^VIX", "XRT"]


class ExternalIndicators(IndicatorSource):
    """FRED series through fredapi (with their vintages) and Yahoo Finance closes through
    yfinance, with timeouts and retries (exponential backoff with jitter, Retry-After).

    Values without a vintage get their publication date from the documented lags of
    ``forecast_pipeline.indicators.point_in_time``.
    """

    fred_api_key: str
    fred_series: list[str] = DEFAULT_FRED_SERIES
    market_symbols: list[str] = DEFAULT_MARKET_SYMBOLS
    fred_root_url: str = "https://api.stlouisfed.org/fred"
    attempts: int = 4
    timeout_seconds: float = 30.0

    def series_ids(self) -> list[str]:
        return [*self.fred_series, *self.market_symbols]

    def fetch(self, series_id: str, start: date, end: date) -> pd.DataFrame:
        from forecast_pipeline.indicators import FredSource, RetryPolicy, YahooSource
        from forecast_pipeline.indicators.point_in_time import with_publication_dates

        policy = RetryPolicy(attempts=self.attempts, timeout=self.timeout_seconds)
        if series_id in self.fred_series:
            source = FredSource(self.fred_api_key, policy, root_url=self.fred_root_url)
            frame = source.observations(series_id, start, end, vintages=True)
        else:
            frame = YahooSource(policy).observations(series_id, start, end)
            # a close is usable from the next day (see PUBLICATION_LAGS), not on its own day
            frame = frame.assign(published_date=pd.NaT)
        return with_publication_dates(frame)


class SnapshotIndicators(IndicatorSource):
    """Series from local CSV snapshots (a download kept on disk, or an air-gapped mirror).

    ``files`` maps a series id to a CSV whose first column is the date and whose value column
    is ``value`` (FRED's export) or ``Close`` (a market export); blank values are missing.
    Publication dates come from the documented lags. Rows are stored with source 'snapshot'.
    """

    files: dict[str, str]
    frequencies: dict[str, str] = {}

    def series_ids(self) -> list[str]:
        return list(self.files)

    def fetch(self, series_id: str, start: date, end: date) -> pd.DataFrame:
        from forecast_pipeline.indicators.point_in_time import (
            PUBLICATION_LAGS,
            with_publication_dates,
        )

        raw = pd.read_csv(self.files[series_id])
        value_column = "value" if "value" in raw.columns else "Close"
        dates = pd.to_datetime(raw.iloc[:, 0])
        known = PUBLICATION_LAGS.get(series_id)
        frequency = self.frequencies.get(series_id) or (known.frequency if known else "daily")
        frame = pd.DataFrame(
            {
                "series_id": series_id,
                "observation_date": dates,
                "value": pd.to_numeric(raw[value_column], errors="coerce"),
                "published_date": pd.NaT,
                "source": "snapshot",
                "frequency": frequency,
            }
        )
        window = (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))
        return with_publication_dates(frame[window].reset_index(drop=True))
