"""The one long frame shape every indicator client returns."""

from __future__ import annotations

from typing import Literal

import pandas as pd

__all__ = ["COLUMNS", "Frequency", "Source", "empty_observations", "observations_frame"]

Source = Literal["fred", "yahoo"]
Frequency = Literal["daily", "monthly", "quarterly"]

COLUMNS: tuple[str, ...] = (
    "series_id",
    "observation_date",
    "value",
    "published_date",
    "source",
    "frequency",
)
"""``series_id`` str, ``observation_date`` datetime64[ns], ``value`` float64 (NaN = missing),
``published_date`` datetime64[ns] (NaT = unknown), ``source`` and ``frequency`` str."""


def observations_frame(
    series_id: str,
    observation_date: pd.Series | pd.Index | list,
    value: pd.Series | pd.Index | list,
    published_date: pd.Series | pd.Index | list | None,
    *,
    source: Source,
    frequency: Frequency,
) -> pd.DataFrame:
    """Build the long frame with exact dtypes, sorted by observation then publication date."""
    dates = pd.to_datetime(pd.Series(observation_date, dtype="object"), format="ISO8601")
    n = len(dates)
    if published_date is None:
        published = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    else:
        published = pd.to_datetime(pd.Series(published_date, dtype="object"), format="ISO8601")
    frame = pd.DataFrame(
        {
            "series_id": pd.Series([series_id] * n, dtype="object"),
            "observation_date": dates.reset_index(drop=True).astype("datetime64[ns]"),
            "value": pd.to_numeric(pd.Series(value, dtype="object"), errors="coerce")
            .reset_index(drop=True)
            .astype("float64"),
            "published_date": published.reset_index(drop=True).astype("datetime64[ns]"),
            "source": pd.Series([source] * n, dtype="object"),
            "frequency": pd.Series([frequency] * n, dtype="object"),
        },
        columns=list(COLUMNS),
    )
    return frame.sort_values(["observation_date", "published_date"], kind="stable").reset_index(
        drop=True
    )


def empty_observations(series_id: str, *, source: Source, frequency: Frequency) -> pd.DataFrame:
    """A frame with no rows but the right columns and dtypes."""
    return observations_frame(series_id, [], [], [], source=source, frequency=frequency)
