"""An abrupt change of demand in the sample, for drift scenarios."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd


def shift_demand(sales: pd.DataFrame, start: datetime.date, factor: float) -> pd.DataFrame:
    """``sales`` (rows of :func:`~forecast_pipeline.sample.sales.generate_daily_sales`) with the
    units of every day from ``start`` on multiplied by ``factor`` and rounded, revenue
    recomputed; rows left with no unit are dropped, as a point-of-sale export would."""
    if factor < 0:
        raise ValueError(f"factor must be >= 0, got {factor}")
    after = sales["date"] >= pd.Timestamp(start)
    units = sales["units"].where(~after, np.rint(sales["units"] * factor)).astype("int64")
    out = sales.assign(units=units, revenue=np.round(units * sales["unit_price"], 2))
    return out[out["units"] > 0].reset_index(drop=True)
