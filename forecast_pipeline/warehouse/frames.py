"""Moving pandas frames in and out of Postgres quickly (COPY) and safely (identifiers from code)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
import psycopg
from psycopg import sql


def copy_frame(
    conn: psycopg.Connection, table: str, frame: pd.DataFrame, columns: Sequence[str]
) -> int:
    """COPY ``frame[columns]`` into ``table`` (a name from code, ``schema.table`` or a temp table).

    Values travel as CSV with ``\\N`` for missing values; returns the number of rows copied.
    """
    buffer = io.StringIO()
    frame.loc[:, list(columns)].to_csv(buffer, index=False, header=False, na_rep="\\N")
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')").format(
        sql.Identifier(*table.split(".")), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())
    return len(frame)


def read_frame(conn: psycopg.Connection, query: str, params: Sequence[object] = ()) -> pd.DataFrame:
    """Run a parameterised query and return its rows as a DataFrame."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        columns = [d.name for d in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)
