"""The sales history: merging validated uploads and reading daily sales back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg
from psycopg import sql

from forecast_pipeline.warehouse.frames import copy_frame, read_frame

STAGING_COLUMNS = [
    "sale_date",
    "store_id",
    "product_id",
    "product_name",
    "category",
    "units",
    "unit_price",
    "revenue",
    "on_promotion",
    "line_number",
]


@dataclass(frozen=True)
class MergeCounts:
    rows_in_upload: int
    inserted: int
    updated: int
    kept_newer: int  # keys where a later upload already holds the row
    superseded: int  # keys taken over from another upload (their old values are kept)
    categories_respelled: int  # rows whose category matched a known one but for case
    products_recategorised: int  # known products whose category this upload changed


# The upsert replaces a stored row when it came from the same upload or from one received
# no later than this upload; rows from a later upload are kept.
_REPLACES_STORED = sql.SQL(
    """(s.upload_id = %(upload_id)s
     OR (SELECT received_at FROM warehouse.uploads WHERE upload_id = s.upload_id)
        <= (SELECT received_at FROM warehouse.uploads WHERE upload_id = %(upload_id)s))"""
)


def merge_upload(conn: psycopg.Connection, upload_id: str, accepted: pd.DataFrame) -> MergeCounts:
    """Merge an upload's accepted daily rows into ``warehouse.sales_history`` in one transaction.

    The natural key is (sale_date, store_id, product_id). A row replaces the stored one unless the
    stored row came from an upload received later; every row keeps the upload and line it came
    from, and the values it replaced from another upload go to ``sales_history_changes``.

    Categories: a category equal to a known one but for letter case or surrounding spaces takes
    the known spelling ("toys" joins "Toys"). The product dimension is updated from the same
    rows: the latest dated row of a product gives its name and category, so a product that
    moves category moves with its latest sale. Re-merging the same upload changes nothing.
    """
    staged = accepted.rename(columns={"date": "sale_date"})
    staged = staged.assign(sale_date=pd.to_datetime(staged["sale_date"]))
    conn.execute(
        """
        CREATE TEMP TABLE staged_sales (
            sale_date date, store_id text, product_id text, product_name text, category text,
            units integer, unit_price numeric(12, 2), revenue numeric(14, 2),
            on_promotion boolean, line_number integer
        ) ON COMMIT DROP
        """
    )
    copy_frame(conn, "staged_sales", staged, STAGING_COLUMNS)
    respelled = conn.execute(
        """
        UPDATE staged_sales st SET category = known.category
        FROM (SELECT DISTINCT category FROM warehouse.products) known
        WHERE lower(btrim(st.category)) = lower(known.category) AND st.category <> known.category
        """
    ).rowcount
    recategorised = conn.execute(
        """
        SELECT count(*) FROM warehouse.products p
        JOIN (SELECT product_id, (array_agg(category ORDER BY sale_date DESC))[1] AS category,
                     max(sale_date) AS last_sale
              FROM staged_sales GROUP BY product_id) latest USING (product_id)
        WHERE latest.category <> p.category AND latest.last_sale >= p.last_sale_date
        """
    ).fetchone()
    superseded = conn.execute(
        sql.SQL(
            """
        INSERT INTO warehouse.sales_history_changes
            (sale_date, store_id, product_id, previous_upload_id, previous_line_number,
             previous_units, previous_revenue, upload_id, line_number, units, revenue)
        SELECT s.sale_date, s.store_id, s.product_id, s.upload_id, s.line_number, s.units,
               s.revenue, %(upload_id)s, st.line_number, st.units, st.revenue
        FROM staged_sales st
        JOIN warehouse.sales_history s USING (sale_date, store_id, product_id)
        WHERE s.upload_id <> %(upload_id)s AND {replaces}
        ON CONFLICT DO NOTHING
        """
        ).format(replaces=_REPLACES_STORED),
        {"upload_id": upload_id},
    ).rowcount
    outcome = conn.execute(
        sql.SQL(
            """
        WITH upserted AS (
            INSERT INTO warehouse.sales_history AS s
                (sale_date, store_id, product_id, units, unit_price, revenue, on_promotion,
                 upload_id, line_number)
            SELECT sale_date, store_id, product_id, units, unit_price, revenue, on_promotion,
                   %(upload_id)s, line_number
            FROM staged_sales
            ON CONFLICT (sale_date, store_id, product_id) DO UPDATE
            SET units = EXCLUDED.units, unit_price = EXCLUDED.unit_price,
                revenue = EXCLUDED.revenue, on_promotion = EXCLUDED.on_promotion,
                upload_id = EXCLUDED.upload_id, line_number = EXCLUDED.line_number,
                updated_at = now()
            WHERE {replaces}
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM upserted
        """
        ).format(replaces=_REPLACES_STORED),
        {"upload_id": upload_id},
    ).fetchone()
    assert outcome is not None
    inserted, updated = int(outcome[0]), int(outcome[1])
    conn.execute(
        """
        INSERT INTO warehouse.products
            (product_id, product_name, category, first_sale_date, last_sale_date)
        SELECT product_id,
               (array_agg(product_name ORDER BY sale_date DESC)
                    FILTER (WHERE product_name IS NOT NULL))[1],
               (array_agg(category ORDER BY sale_date DESC))[1],
               min(sale_date), max(sale_date)
        FROM staged_sales
        GROUP BY product_id
        ON CONFLICT (product_id) DO UPDATE
        SET product_name = coalesce(EXCLUDED.product_name, products.product_name),
            category = CASE WHEN EXCLUDED.last_sale_date >= products.last_sale_date
                            THEN EXCLUDED.category ELSE products.category END,
            first_sale_date = least(products.first_sale_date, EXCLUDED.first_sale_date),
            last_sale_date = greatest(products.last_sale_date, EXCLUDED.last_sale_date),
            updated_at = now()
        """
    )
    conn.execute(
        "UPDATE warehouse.uploads SET status = 'merged', merged_at = now() WHERE upload_id = %s",
        (upload_id,),
    )
    rows = len(staged)
    return MergeCounts(
        rows_in_upload=rows,
        inserted=inserted,
        updated=updated,
        kept_newer=rows - inserted - updated,
        superseded=superseded,
        categories_respelled=respelled,
        products_recategorised=int(recategorised[0]) if recategorised else 0,
    )


def load_daily_sales(conn: psycopg.Connection, before: date) -> pd.DataFrame:
    """Daily sales per store and product before ``before``, with each product's category."""
    frame = read_frame(
        conn,
        """
        SELECT s.sale_date AS date, s.store_id, s.product_id, p.category,
               s.units, s.unit_price::float8 AS unit_price
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
