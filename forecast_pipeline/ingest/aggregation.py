"""Aggregation of accepted transaction lines (order lines) to the contract's daily grain.

A transaction-grain upload (``ColumnMapping.grain == "transaction"``) has many lines
per (date, store_id, product_id). Each line is validated on its own; the accepted
lines are then folded into one row per key:

* ``units``: sum;
* ``revenue``: sum, missing only when missing on every line;
* ``unit_price``: ``revenue / units`` when units != 0 and every line has a revenue,
  otherwise the mean of the lines' ``unit_price`` (missing if none has one);
* ``on_promotion``: true if any line is, false if none is but some say false,
  missing if no line says;
* ``product_name``, ``category`` (and any other column): the value of the group's
  last line in file order, even when it is empty;
* ``line_number``: the group's first line; ``source_lines``: its number of lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import LINE_NUMBER

SOURCE_LINES = "source_lines"

_SUMMED = ("units", "revenue")


def _key(contract: DataContract) -> list[str]:
    key = contract.unique_key
    if not key:
        raise ValueError(f"contract {contract.id!r} has no natural key to aggregate on")
    return list(key)


def with_source_lines(accepted: pd.DataFrame) -> pd.DataFrame:
    """Daily-grain rows as they are, with ``source_lines`` = 1."""
    return accepted.assign(**{SOURCE_LINES: pd.Series(1, index=accepted.index, dtype="int64")})


def aggregate_to_daily(accepted: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """Fold accepted transaction lines into one row per natural key (see module doc).

    ``accepted`` is ``ValidationOutcome.accepted`` (typed contract columns plus
    ``line_number``); the result has the same columns and dtypes plus
    ``source_lines`` (int64), one row per key, ordered by first line.
    """
    key = _key(contract)
    columns = [*contract.column_names, LINE_NUMBER]
    lines = accepted[columns].sort_values(LINE_NUMBER, kind="stable").reset_index(drop=True)
    groups = lines.groupby(key, sort=False, dropna=False)

    # one row per key, in the order of each key's first line
    first = groups[LINE_NUMBER].min()
    result = first.rename(LINE_NUMBER).reset_index()
    index = pd.MultiIndex.from_frame(result[key])

    def per_key(series: pd.Series) -> pd.Series:
        return series.reindex(index).reset_index(drop=True)

    last = groups.last(skipna=False)
    counts = groups.size()
    result[SOURCE_LINES] = per_key(counts).astype("int64")

    for column in contract.column_names:
        if column in key:
            continue
        if column == "units":
            values: pd.Series = per_key(groups[column].sum())
        elif column == "revenue":
            values = per_key(groups[column].sum(min_count=1))
        elif column == "on_promotion":
            values = per_key(_any(lines[column], groups))
        elif column == "unit_price":
            values = per_key(_unit_price(lines, groups))
        else:
            values = per_key(last[column])
        result[column] = values.astype(accepted[column].dtype)

    return result[[*columns, SOURCE_LINES]]


def _any(flags: pd.Series, groups: pd.core.groupby.DataFrameGroupBy) -> pd.Series:
    keys = groups.ngroup()
    known = flags.notna().groupby(keys).any()
    true = flags.fillna(False).astype(bool).groupby(keys).any()
    values = pd.array(true.to_numpy(), dtype="boolean")
    values[~known.to_numpy()] = pd.NA
    result = pd.Series(values, index=known.index)
    # ngroup numbers follow the groups' order; give the result the groups' key index
    result.index = groups[LINE_NUMBER].min().index
    return result


def _unit_price(lines: pd.DataFrame, groups: pd.core.groupby.DataFrameGroupBy) -> pd.Series:
    has_revenue = "revenue" in lines.columns and "units" in lines.columns
    mean_price = groups["unit_price"].mean()
    if not has_revenue:
        return mean_price
    units = groups["units"].sum().astype("float64")
    revenue = groups["revenue"].sum(min_count=1)
    complete = lines["revenue"].notna().groupby(groups.ngroup()).all()
    complete.index = mean_price.index
    ratio = revenue / units.where(units != 0, np.nan)
    usable = complete & (units != 0) & ratio.notna()
    return ratio.where(usable, mean_price)
