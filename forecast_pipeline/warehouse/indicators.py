"""Indicator observations (macro and market series), one row per observation and vintage."""

from __future__ import annotations

import pandas as pd
import psycopg

from forecast_pipeline.warehouse.frames import copy_frame, read_frame

COLUMNS = ["series_id", "observation_date", "value", "published_date", "source", "frequency"]


def upsert_observations(conn: psycopg.Connection, observations: pd.DataFrame) -> int:
    """Insert new observations and update revised values; returns rows inserted or changed."""
    conn.execute(
        """
        CREATE TEMP TABLE staged_observations (
            series_id text, observation_date date, value double precision,
            published_date date, source text, frequency text
        ) ON COMMIT DROP
        """
    )
    copy_frame(conn, "staged_observations", observations, COLUMNS)
    row = conn.execute(
        """
        WITH changed AS (
            INSERT INTO warehouse.indicator_observations AS o
                (series_id, observation_date, value, published_date, source, frequency)
            SELECT series_id, observation_date, value, published_date, source, frequency
            FROM staged_observations
            ON CONFLICT (series_id, observation_date, published_date) DO UPDATE
            SET value = EXCLUDED.value, source = EXCLUDED.source, fetched_at = now()
            WHERE o.value IS DISTINCT FROM EXCLUDED.value OR o.source <> EXCLUDED.source
            RETURNING 1
        )
        SELECT count(*) FROM changed
        """
    ).fetchone()
    return int(row[0]) if row else 0


def load_observations(conn: psycopg.Connection) -> pd.DataFrame:
    """Every stored observation and vintage (the input of as-of lookups)."""
    frame = read_frame(
        conn,
        "SELECT series_id, observation_date, value, published_date, source, frequency "
        "FROM warehouse.indicator_observations ORDER BY series_id, observation_date",
    )
    for column in ("observation_date", "published_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def latest_per_series(conn: psycopg.Connection) -> pd.DataFrame:
    """For each series: source, frequency, last observation and last publication date."""
    return read_frame(
        conn,
        """
        SELECT series_id, min(source) AS source, min(frequency) AS frequency,
               max(observation_date) AS last_observation,
               max(published_date) AS last_published, count(*) AS observations
        FROM warehouse.indicator_observations
        GROUP BY series_id ORDER BY series_id
        """,
    )
