"""Reading the sales history back (merging lives in ``merge.py``)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg

from forecast_pipeline.warehouse.frames import read_frame


def load_daily_sales(conn: psycopg.Connection, before: date) -> pd.DataFrame:
    """Daily sales per store and product before ``before``, with each product's category."""
    frame = read_frame(
        conn,
        """
        SELECT s.sale_date AS date, s.store_id, s.product_id, p.category,
               s.units, s.unit_price::float8 AS unit_price, s.on_promotion
        FROM warehouse.sales_history s
        JOIN warehouse.products p USING (product_id)
        WHERE s.sale_date < %s
        ORDER BY s.product_id, s.sale_date, s.store_id
        """,
        (before,),
    )
    return frame.assign(date=pd.to_datetime(frame["date"]))


def load_products(conn: psycopg.Connection) -> pd.DataFrame:
    """The product dimension: product_id, product_name, category, first and last sale dates."""
    return read_frame(
        conn,
        "SELECT product_id, product_name, category, first_sale_date, last_sale_date "
        "FROM warehouse.products ORDER BY product_id",
    )


def sales_date_range(conn: psycopg.Connection) -> tuple[date, date] | None:
    """First and last sale dates in the history, or None when it is empty."""
    row = conn.execute(
        "SELECT min(sale_date), max(sale_date) FROM warehouse.sales_history"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]
