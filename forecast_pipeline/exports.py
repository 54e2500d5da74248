"""Parquet exports of each published forecast run to the lake, in Hive-style partitions.

Layout (under the lake's root: a local folder, or ``s3://<bucket>/<prefix>`` in production)::

    exports/<table>/forecast_week=<YYYY-MM-DD>/part-0.parquet

One file per table and weekly partition (the Monday the partition's week starts). The
partition column ``forecast_week`` is *not* stored inside the files: readers take it from the
folder name (the Hive convention). Each file carries the published run's ``run_id`` and
``model_version`` columns. Tz-naive datetime columns whose values are all at midnight (such as
``ds``), and the columns named in ``date_columns`` (``target_week`` by default, also accepted as
ISO ``YYYY-MM-DD`` strings), are stored as Parquet ``DATE``; other columns keep their Arrow type.

Exports are idempotent: re-publishing a week overwrites the same key, so a re-run replaces the
week's rows and never duplicates them. A table that a later run of the week no longer exports
keeps its older file. Each file is replaced in one put (S3) or rename (local folder); a run's
tables are written one after the other, after all of them have been validated and encoded.

Reading with pyarrow (``partitioning="hive"`` gives ``forecast_week`` as a string;
:func:`open_export` types it as a date)::

    import pyarrow.dataset as ds
    from pyarrow import fs

    s3 = fs.S3FileSystem(region="eu-west-1")  # endpoint_override=..., scheme="http" for MinIO
    products = ds.dataset(
        "bucket/lake/exports/product_forecasts", filesystem=s3, format="parquet",
        partitioning="hive",
    )
    table = products.to_table(filter=ds.field("forecast_week") == "2026-11-09")

Reading with DuckDB, a local lake directly (``forecast_week`` becomes a ``DATE``)::

    SELECT forecast_week, category, sum(units) AS units
    FROM read_parquet('/srv/lake/exports/product_forecasts/*/*.parquet', hive_partitioning = true)
    WHERE forecast_week = DATE '2026-11-09'
    GROUP BY ALL

and an S3 lake through the pyarrow dataset above, without DuckDB's ``httpfs`` extension::

    import duckdb

    duckdb.sql("SELECT forecast_week, count(*) FROM products GROUP BY 1")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

    from forecast_pipeline.defs.resources import Lake

EXPORT_PREFIX = "exports"
PARTITION_COLUMN = "forecast_week"
PART_FILE = "part-0.parquet"
RUN_COLUMNS = ("run_id", "model_version")
DATE_COLUMNS = ("target_week",)

_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def validate_table(table: str) -> str:
    """``table`` if it is a lowercase identifier (``product_forecasts``), else ``ValueError``."""
    if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
        raise ValueError(
            f"invalid export table name {table!r}: expected a lowercase identifier "
            "(letters, digits and underscores, starting with a letter), e.g. 'product_forecasts'"
        )
    return table


def validate_week(forecast_week: str) -> str:
    """``forecast_week`` if it is an ISO date (``YYYY-MM-DD``) on a Monday, else ``ValueError``."""
    if not isinstance(forecast_week, str) or not _ISO_DATE.fullmatch(forecast_week):
        raise ValueError(
            f"invalid forecast_week {forecast_week!r}: expected the weekly partition key, "
            "an ISO date YYYY-MM-DD such as '2026-11-09'"
        )
    try:
        day = date.fromisoformat(forecast_week)
    except ValueError as error:
        raise ValueError(
            f"invalid forecast_week {forecast_week!r}: not a calendar date ({error})"
        ) from error
    if day.weekday() != 0:
        raise ValueError(
            f"invalid forecast_week {forecast_week!r}: weekly partitions start on a Monday, "
            f"this is a {day.strftime('%A')}"
        )
    return forecast_week


def export_key(table: str, forecast_week: str) -> str:
    """Lake key of one table's export for one weekly partition."""
    validate_table(table)
    validate_week(forecast_week)
    return f"{EXPORT_PREFIX}/{table}/{PARTITION_COLUMN}={forecast_week}/{PART_FILE}"


def dataset_uri(lake: Lake, table: str) -> str:
    """URI of one table's export folder (``s3://bucket/lake/exports/<table>`` or
    ``file:///.../exports/<table>``), the root to open as a Hive-partitioned dataset."""
    return lake.uri(f"{EXPORT_PREFIX}/{validate_table(table)}")


def partitioning() -> ds.Partitioning:
    """The exports' Hive partitioning with ``forecast_week`` typed as a date."""
    return ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.date32())]), flavor="hive")


def open_export(uri: str, filesystem: FileSystem | None = None) -> ds.Dataset:
    """One table's exports as a pyarrow dataset, ``forecast_week`` as a date column.

    ``uri`` is a :func:`dataset_uri` (``file://`` or ``s3://``) or a local path. With
    ``filesystem`` (e.g. a ``pyarrow.fs.S3FileSystem`` with an endpoint and credentials) the
    scheme is dropped and the rest (``bucket/prefix/...`` on S3) is the path in it.
    """
    path = uri
    if filesystem is not None and "://" in uri:
        path = uri.split("://", 1)[1]
    return ds.dataset(path, filesystem=filesystem, format="parquet", partitioning=partitioning())


def export_run(
    lake: Lake,
    forecast_week: str,
    run_id: str,
    model_version: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    date_columns: Iterable[str] = DATE_COLUMNS,
) -> dict[str, str]:
    """Export a published run's tables as Parquet to the lake; returns table -> file URI.

    Each frame is written to :func:`export_key` with ``run_id`` and ``model_version`` columns
    added (replacing any present), without the pandas index and without the ``forecast_week``
    partition column (dropped if present and equal to ``forecast_week``), snappy-compressed.
    Everything is validated and encoded before the first write, so invalid input (a bad week,
    table name or date value) raises ``ValueError`` and writes nothing.
    """
    validate_week(forecast_week)
    for name, value in (("run_id", run_id), ("model_version", model_version)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    dates = tuple(date_columns)
    encoded: dict[str, bytes] = {}
    for table, frame in tables.items():
        key = export_key(table, forecast_week)
        arrow = _to_arrow(table, frame, forecast_week, run_id, model_version, dates)
        buffer = pa.BufferOutputStream()
        pq.write_table(arrow, buffer, compression="snappy")
        encoded[key] = buffer.getvalue().to_pybytes()
    uris: dict[str, str] = {}
    for table in tables:
        key = export_key(table, forecast_week)
        uris[table] = lake.write_bytes(key, encoded[key])
    return uris


def _to_arrow(
    table: str,
    frame: pd.DataFrame,
    forecast_week: str,
    run_id: str,
    model_version: str,
    date_columns: tuple[str, ...],
) -> pa.Table:
    frame = frame.reset_index(drop=True)
    if PARTITION_COLUMN in frame.columns:
        values = frame[PARTITION_COLUMN].dropna().astype(str).str[:10].unique()
        if len(values) and list(values) != [forecast_week]:
            raise ValueError(
                f"table {table!r} has a {PARTITION_COLUMN} column with {sorted(values)}, "
                f"not the exported week {forecast_week!r}"
            )
        frame = frame.drop(columns=PARTITION_COLUMN)
    frame = frame.drop(columns=[c for c in RUN_COLUMNS if c in frame.columns])
    frame.insert(0, "model_version", model_version)
    frame.insert(0, "run_id", run_id)
    to_date = []
    for column in frame.columns:
        series = frame[column]
        if column in date_columns and not pd.api.types.is_datetime64_any_dtype(series):
            if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
                series = _parse_iso_dates(table, column, series)
                frame[column] = series
            else:
                raise ValueError(
                    f"column {table}.{column} should hold dates, found dtype {series.dtype}"
                )
        if pd.api.types.is_datetime64_dtype(series):  # tz-naive
            present = series.dropna()
            if (present == present.dt.normalize()).all():
                to_date.append(column)
            elif column in date_columns:
                raise ValueError(f"column {table}.{column} should hold dates, has times of day")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    for column in to_date:
        index = arrow.schema.get_field_index(column)
        dates = pc.cast(arrow.column(index), pa.date32(), safe=False)
        arrow = arrow.set_column(index, pa.field(column, pa.date32()), dates)
    # the pandas metadata would describe the datetime columns now stored as dates
    return arrow.replace_schema_metadata(None)


def _parse_iso_dates(table: str, column: str, series: pd.Series) -> pd.Series:
    """ISO ``YYYY-MM-DD`` strings (or ``datetime.date`` objects) as datetime64, else
    ``ValueError`` naming the first bad value."""
    text = series.astype("string")
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = text[parsed.isna() & text.notna()]
    if len(bad):
        raise ValueError(
            f"column {table}.{column} should hold ISO dates YYYY-MM-DD: {bad.iloc[0]!r} "
            f"(row {bad.index[0]}) is not one"
        )
    return parsed
