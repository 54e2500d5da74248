"""Merging one validated upload into the sales history, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from forecast_pipeline.warehouse.frames import copy_frame

HISTORY_COLUMNS = [
    "sale_date", "store_id", "product_id", "units", "unit_price", "revenue", "on_promotion",
    "upload_id", "line_number",
]  # fmt: skip
PRODUCT_COLUMNS = ["product_id", "product_name", "category", "first_sale_date", "last_sale_date"]

# Merges run one at a time, so that the overlap check below stays true until the rows are in:
# each takes this lock on the history. Readers never wait for it (it conflicts with writers
# only), and the read-only roles cannot take it (unlike an advisory lock, which any role can
# take and so hold up merges).
MERGE_LOCK = "LOCK TABLE warehouse.sales_history IN SHARE ROW EXCLUSIVE MODE"

# A stored row is replaced unless it came from an upload received after this one; those
# uploads (usually none) are looked up once per merge.
_REPLACES_STORED = sql.SQL("NOT (s.upload_id = ANY(%(later_uploads)s))")


@dataclass(frozen=True)
class MergeCounts:
    rows_in_upload: int
    inserted: int
    updated: int
    kept_newer: int  # keys where a later upload already holds the row
    superseded: int  # keys taken over from another upload (their old values are kept)
    categories_respelled: int  # rows whose category matched a known one but for case
    products_recategorised: int  # known products whose category this upload changed
    method: str  # "copy" (no stored day overlaps the upload) or "upsert"


def merge_upload(conn: psycopg.Connection, upload_id: str, accepted: pd.DataFrame) -> MergeCounts:
    """Merge an upload's accepted daily rows into ``warehouse.sales_history``.

    Runs in the caller's transaction. The natural key is (sale_date, store_id, product_id).
    When no stored row falls in the upload's date range, the rows are copied straight in.
    Otherwise they are upserted: a row replaces the stored one unless that came from an upload
    received later, and the values it replaced from another upload go to
    ``sales_history_changes``. Every row keeps the upload and line it came from; merging the
    same upload again changes nothing.

    Categories: one equal to a known category but for letter case or surrounding spaces takes
    the known spelling ("toys" joins "Toys"). The product dimension takes each product's name
    and category from its latest row, so a product that moves category moves with its latest
    sale.
    """
    conn.execute("SET LOCAL work_mem = '256MB'")
    conn.execute(MERGE_LOCK)
    staged = accepted.rename(columns={"date": "sale_date"}).assign(upload_id=upload_id)
    staged["sale_date"] = pd.to_datetime(staged["sale_date"])
    staged, respelled = _respell_categories(conn, staged)
    recategorised = _merge_products(conn, _latest_products(staged))
    span = (staged["sale_date"].min().date(), staged["sale_date"].max().date())
    overlap = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM warehouse.sales_history WHERE sale_date BETWEEN %s AND %s)",
        span,
    ).fetchone()
    if overlap and overlap[0]:
        inserted, updated, superseded = _upsert_rows(conn, upload_id, staged)
        method = "upsert"
    else:
        copy_frame(conn, "warehouse.sales_history", staged, HISTORY_COLUMNS)
        inserted, updated, superseded, method = len(staged), 0, 0, "copy"
    conn.execute(
        "UPDATE warehouse.uploads SET status = 'merged', merged_at = now() WHERE upload_id = %s",
        (upload_id,),
    )
    return MergeCounts(
        rows_in_upload=len(staged),
        inserted=inserted,
        updated=updated,
        kept_newer=len(staged) - inserted - updated,
        superseded=superseded,
        categories_respelled=respelled,
        products_recategorised=recategorised,
        method=method,
    )


def _respell_categories(conn: psycopg.Connection, staged: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    known = [row[0] for row in conn.execute("SELECT DISTINCT category FROM warehouse.products")]
    spelling = {category.strip().lower(): category for category in known}
    seen = staged["category"].dropna().unique()
    renamed = {
        value: spelling[value.strip().lower()]
        for value in seen
        if spelling.get(value.strip().lower(), value) != value
    }
    if not renamed:
        return staged, 0
    respelled = int(staged["category"].isin(list(renamed)).sum())
    return staged.assign(category=staged["category"].replace(renamed)), respelled


def _latest_products(staged: pd.DataFrame) -> pd.DataFrame:
    """Per product: the latest non-empty name, the latest category, first and last sale."""
    ordered = staged.sort_values(["sale_date", "line_number"], kind="stable")
    grouped = ordered.groupby("product_id", sort=True)
    return pd.DataFrame(
        {
            "product_name": grouped["product_name"].last(),
            "category": grouped["category"].last(),
            "first_sale_date": grouped["sale_date"].min(),
            "last_sale_date": grouped["sale_date"].max(),
        }
    ).reset_index()


def _merge_products(conn: psycopg.Connection, products: pd.DataFrame) -> int:
    """Upsert the product dimension; returns how many known products changed category."""
    conn.execute(
        "CREATE TEMP TABLE staged_products (product_id text, product_name text, category text, "
        "first_sale_date date, last_sale_date date) ON COMMIT DROP"
    )
    copy_frame(conn, "staged_products", products, PRODUCT_COLUMNS)
    recategorised = conn.execute(
        "SELECT count(*) FROM warehouse.products p JOIN staged_products st USING (product_id) "
        "WHERE st.category <> p.category AND st.last_sale_date >= p.last_sale_date"
    ).fetchone()
    conn.execute(
        """
        INSERT INTO warehouse.products
            (product_id, product_name, category, first_sale_date, last_sale_date)
        SELECT product_id, product_name, category, first_sale_date, last_sale_date
        FROM staged_products
        ON CONFLICT (product_id) DO UPDATE
        SET product_name = CASE WHEN EXCLUDED.last_sale_date >= products.last_sale_date
                                THEN coalesce(EXCLUDED.product_name, products.product_name)
                                ELSE products.product_name END,
            category = CASE WHEN EXCLUDED.last_sale_date >= products.last_sale_date
                            THEN EXCLUDED.category ELSE products.category END,
            first_sale_date = least(products.first_sale_date, EXCLUDED.first_sale_date),
            last_sale_date = greatest(products.last_sale_date, EXCLUDED.last_sale_date),
            updated_at = now()
        """
    )
    return int(recategorised[0]) if recategorised else 0


def _upsert_rows(
    conn: psycopg.Connection, upload_id: str, staged: pd.DataFrame
) -> tuple[int, int, int]:
    """(inserted, updated, superseded) of an upsert that keeps the replaced values."""
    conn.execute(
        """
        CREATE TEMP TABLE staged_sales (
            sale_date date, store_id text, product_id text, units integer,
            unit_price numeric(12, 2), revenue numeric(14, 2), on_promotion boolean,
            upload_id text, line_number integer
        ) ON COMMIT DROP
        """
    )
    copy_frame(conn, "staged_sales", staged, HISTORY_COLUMNS)
    later = conn.execute(
        "SELECT upload_id FROM warehouse.uploads WHERE received_at > "
        "(SELECT received_at FROM warehouse.uploads WHERE upload_id = %s)",
        (upload_id,),
    ).fetchall()
    params = {"upload_id": upload_id, "later_uploads": [row[0] for row in later]}
    superseded = conn.execute(
        sql.SQL(
            """
            INSERT INTO warehouse.sales_history_changes
                (sale_date, store_id, product_id, previous_upload_id, previous_line_number,
                 previous_units, previous_revenue, upload_id, line_number, units, revenue)
            SELECT s.sale_date, s.store_id, s.product_id, s.upload_id, s.line_number, s.units,
                   s.revenue, st.upload_id, st.line_number, st.units, st.revenue
            FROM staged_sales st
            JOIN warehouse.sales_history s USING (sale_date, store_id, product_id)
            WHERE s.upload_id <> %(upload_id)s AND {replaces}
            ON CONFLICT DO NOTHING
            """
        ).format(replaces=_REPLACES_STORED),
        params,
    ).rowcount
    outcome = conn.execute(
        sql.SQL(
            """
            WITH upserted AS (
                INSERT INTO warehouse.sales_history AS s
                    (sale_date, store_id, product_id, units, unit_price, revenue, on_promotion,
                     upload_id, line_number)
                SELECT sale_date, store_id, product_id, units, unit_price, revenue,
                       on_promotion, upload_id, line_number
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
        params,
    ).fetchone()
    assert outcome is not None
    return int(outcome[0]), int(outcome[1]), superseded
