"""The uploads registry and its rejections: one row per file received, every rejected line kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import psycopg

from forecast_pipeline.warehouse.frames import copy_frame


@dataclass(frozen=True)
class UploadRecord:
    upload_id: str
    filename: str
    source_uri: str
    raw_uri: str
    checksum_sha256: str
    size_bytes: int
    received_at: datetime


def register_upload(conn: psycopg.Connection, upload: UploadRecord) -> bool:
    """Record a received file; False when this upload id was already registered (a re-run)."""
    row = conn.execute(
        """
        INSERT INTO warehouse.uploads
            (upload_id, filename, source_uri, raw_uri, checksum_sha256, size_bytes, received_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (upload_id) DO NOTHING
        RETURNING upload_id
        """,
        (
            upload.upload_id,
            upload.filename,
            upload.source_uri,
            upload.raw_uri,
            upload.checksum_sha256,
            upload.size_bytes,
            upload.received_at,
        ),
    ).fetchone()
    return row is not None


def received_at(conn: psycopg.Connection, upload_id: str) -> datetime:
    """When the upload was received; fails loudly for an unregistered upload."""
    row = conn.execute(
        "SELECT received_at FROM warehouse.uploads WHERE upload_id = %s", (upload_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"upload {upload_id!r} is not in warehouse.uploads")
    return row[0]


REJECTION_COLUMNS = ["upload_id", "line_number", "column_name", "value", "rule", "message"]


def record_validation(
    conn: psycopg.Connection,
    upload_id: str,
    *,
    contract_version: str,
    rows_read: int,
    rows_accepted: int,
    rejections: pd.DataFrame,
    rows_rejected: int,
    rejection_reason: str | None = None,
) -> None:
    """Replace the upload's rejections and store its counts and status, in the caller's transaction.

    ``rejections`` has columns line_number, column, value, rule, message (one row per broken rule).
    A ``rejection_reason`` marks the whole file as rejected.
    """
    conn.execute("DELETE FROM warehouse.upload_rejections WHERE upload_id = %s", (upload_id,))
    if len(rejections):
        frame = rejections.rename(columns={"column": "column_name"}).assign(upload_id=upload_id)
        copy_frame(conn, "warehouse.upload_rejections", frame, REJECTION_COLUMNS)
    status = "rejected" if rejection_reason else "validated"
    conn.execute(
        """
        UPDATE warehouse.uploads
        SET status = %s, contract_version = %s, rows_read = %s, rows_accepted = %s,
            rows_rejected = %s, rejection_reason = %s, validated_at = now()
        WHERE upload_id = %s
        """,
        (
            status,
            contract_version,
            rows_read,
            rows_accepted,
            rows_rejected,
            rejection_reason,
            upload_id,
        ),
    )
