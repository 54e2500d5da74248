"""Moving pandas frames in and out of Postgres quickly (COPY) and safely (identifiers from code)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as Arrow, with midnight-only datetime columns as dates (for date columns)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, name in enumerate(table.column_names):
        column = frame[name]
        if (
            pd.api.types.is_datetime64_any_dtype(column)
            and (column.dropna() == column.dropna().dt.normalize()).all()
        ):
            table = table.set_column(i, name, table.column(name).cast(pa.date32()))
    return table


def copy_frame(
    conn: psycopg.Connection, table: str, frame: pd.DataFrame, columns: Sequence[str]
) -> int:
    """COPY ``frame[columns]`` into ``table`` (a name from code, ``schema.table`` or a temp table).

    Values travel as CSV written by Arrow (fast); a missing value is an unquoted empty field,
    which COPY reads as NULL, while an empty string is quoted. Returns the rows copied.
    """
    buffer = io.BytesIO()
    pa_csv.write_csv(
        _arrow_table(frame.loc[:, list(columns)]),
        buffer,
        write_options=pa_csv.WriteOptions(include_header=False),
    )
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(*table.split(".")), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getbuffer())
    return len(frame)


def read_frame(conn: psycopg.Connection, query: str, params: Sequence[object] = ()) -> pd.DataFrame:
    """Run a parameterised query and return its rows as a DataFrame."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        columns = [d.name for d in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=columns)
