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
* ``product_name``, ``category``: those of the product's latest line (greatest
  date, then last in file order) in the file, on every row of that product: a
  product whose name changed within the file is shown with its latest name on all
  its days (one name and one category per product, as the product dimension
  keeps). The latest line's value is taken even when it is empty;
* any other column: the value of the group's last line in file order;
* ``line_number``: the group's first line; ``source_lines``: its number of lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.typing import DataFrameGroupBy

from forecast_pipeline.contracts.model import DataContract
from forecast_pipeline.contracts.validation import LINE_NUMBER

SOURCE_LINES = "source_lines"
#: Columns that describe the product (the last part of the key): one value per product.
PRODUCT_ATTRIBUTES = ("product_name", "category")


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
    ``source_lines`` (int64), one row per key, ordered by the key's first line.
    """
    key = _key(contract)
    columns = [*contract.column_names, LINE_NUMBER]
    lines = accepted[columns].sort_values(LINE_NUMBER, kind="stable").reset_index(drop=True)
    # group ids 0..n-1 in the order of each key's first line (lines are in file order)
    group_id = lines.groupby(key, sort=False, dropna=False).ngroup().to_numpy()
    groups = lines.groupby(group_id, sort=True)

    result = groups[key].first()
    result[LINE_NUMBER] = groups[LINE_NUMBER].min()
    result[SOURCE_LINES] = groups.size().astype("int64")
    last = groups.last(skipna=False)
    for column in contract.column_names:
        if column in key:
            continue
        if column == "units":
            values = groups[column].sum()
        elif column == "revenue":
            values = groups[column].sum(min_count=1)
        elif column == "on_promotion":
            values = _any(lines[column], group_id)
        elif column == "unit_price":
            values = _unit_price(lines, groups, group_id)
        else:
            values = last[column]
        result[column] = values.astype(accepted[column].dtype)
    product = contract.unique_key[-1] if contract.unique_key else None
    attributes = [c for c in PRODUCT_ATTRIBUTES if c in contract.column_names]
    if product is not None and attributes and not lines.empty:
        order = [c for c in ("date", LINE_NUMBER) if c in lines.columns]
        latest = lines.sort_values(order, kind="stable").drop_duplicates(product, keep="last")
        latest = latest.set_index(product)[attributes]
        for column in attributes:
            values = result[product].map(latest[column]).astype(accepted[column].dtype)
            if values.dtype == object:
                values = values.where(values.notna(), None)
            result[column] = values.to_numpy()
    return result[[*columns, SOURCE_LINES]].reset_index(drop=True)


def _any(flags: pd.Series, group_id: np.ndarray) -> pd.Series:
    """True if any line is, False if none is but one says False, missing if none says."""
    known = flags.notna().groupby(group_id).any()
    true = flags.fillna(False).astype(bool).groupby(group_id).any()
    values = pd.array(true.to_numpy(), dtype="boolean")
    values[~known.to_numpy()] = pd.NA
    return pd.Series(values, index=true.index)


def _unit_price(lines: pd.DataFrame, groups: DataFrameGroupBy, group_id: np.ndarray) -> pd.Series:
    """revenue / units where units != 0 and every line has a revenue; else mean unit_price."""
    mean_price = groups["unit_price"].mean()
    if "revenue" not in lines.columns or "units" not in lines.columns:
        return mean_price
    units = groups["units"].sum().astype("float64")
    revenue = groups["revenue"].sum(min_count=1).astype("float64")
    complete = lines["revenue"].notna().groupby(group_id).all()
    ratio = revenue / units.where(units != 0)
    return ratio.where(complete & ratio.notna(), mean_price)
