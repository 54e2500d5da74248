"""Parquet exports of published runs: Hive-partitioned in the lake (a local folder, and S3
through dagster-aws against a moto server), read back the way users read them, with pyarrow
and DuckDB."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from dagster_aws.s3 import S3Resource
from pyarrow import fs

from forecast_pipeline import exports
from forecast_pipeline.defs.resources import LocalLake, S3Lake

WEEK_1 = "2026-11-09"
WEEK_2 = "2026-11-16"
PRODUCTS = {"P001": "beverages", "P002": "beverages", "P003": "snacks"}


def product_forecasts(forecast_week: str, level: float = 10.0) -> pd.DataFrame:
    """3 products x 4 target weeks, as published: ISO-string target weeks, 80%/95% bands."""
    origin = pd.Timestamp(forecast_week) + pd.Timedelta(weeks=1)
    rows = []
    for i, (product, category) in enumerate(PRODUCTS.items()):
        for step in range(1, 5):
            units = level * (i + 1) + step
            rows.append(
                {
                    "product_id": product,
                    "category": category,
                    "target_week": (origin + pd.Timedelta(weeks=step - 1)).strftime("%Y-%m-%d"),
                    "step": step,
                    "units": units,
                    "lower_80": units * 0.8,
                    "upper_80": units * 1.2,
                    "lower_95": units * 0.7,
                    "upper_95": units * 1.3,
                    "cold_start": product == "P003",
                }
            )
    return pd.DataFrame(rows)


def top_products(level: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "category": ["beverages", "beverages", "snacks"],
            "time_period": ["week", "week", "week"],
            "rank": [1, 2, 1],
            "product_id": ["P002", "P001", "P003"],
            "product_name": ["Cola 1L", "Water 50cl", None],
            "predicted_units": [2 * level + 1, level + 1, 3 * level + 1],
            "lower_80": [1.0, 1.0, 1.0],
            "upper_80": [99.0, 99.0, 99.0],
            "previous_units": [15.0, 12.0, 0.0],
            "change_pct": [0.4, -0.08, None],
            "trend": ["up", "down", "up"],
        }
    )


def category_forecasts(forecast_week: str) -> pd.DataFrame:
    """Category level with datetime ``ds`` (midnight), as the model returns it."""
    origin = pd.Timestamp(forecast_week) + pd.Timedelta(weeks=1)
    return pd.DataFrame(
        {
            "level": ["category"] * 2,
            "unique_id": ["beverages", "snacks"],
            "ds": [origin, origin],
            "yhat": [45.0, 31.0],
        }
    )


def run_tables(forecast_week: str, level: float = 10.0) -> dict[str, pd.DataFrame]:
    return {
        "product_forecasts": product_forecasts(forecast_week, level),
        "top_products": top_products(level),
        "category_forecasts": category_forecasts(forecast_week),
    }


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_keys_and_uris(tmp_path: Path) -> None:
    assert (
        exports.export_key("product_forecasts", WEEK_1)
        == "exports/product_forecasts/forecast_week=2026-11-09/part-0.parquet"
    )
    lake = LocalLake(root=str(tmp_path))
    assert (
        exports.dataset_uri(lake, "top_products")
        == (tmp_path / "exports/top_products").resolve().as_uri()
    )
    s3_lake = S3Lake(s3=S3Resource(), bucket="forecasts", prefix="lake")
    assert (
        exports.dataset_uri(s3_lake, "top_products") == "s3://forecasts/lake/exports/top_products"
    )


def test_local_exports_are_hive_partitioned_and_readable_by_pyarrow(tmp_path: Path) -> None:
    lake = LocalLake(root=str(tmp_path))
    uris = exports.export_run(lake, WEEK_1, "run-a", "7", run_tables(WEEK_1))
    exports.export_run(lake, WEEK_2, "run-b", "8", run_tables(WEEK_2))

    assert files_under(tmp_path) == [
        f"exports/{table}/forecast_week={week}/part-0.parquet"
        for table in ("category_forecasts", "product_forecasts", "top_products")
        for week in (WEEK_1, WEEK_2)
    ]
    assert (
        uris["product_forecasts"]
        == (tmp_path / "exports/product_forecasts/forecast_week=2026-11-09/part-0.parquet")
        .resolve()
        .as_uri()
    )

    # the partition column lives in the path only, not in the files
    one_file = pq.read_table(uris["product_forecasts"])  # the file:// URI as returned
    assert "forecast_week" not in one_file.column_names
    assert one_file.schema.field("target_week").type == pa.date32()
    assert one_file.schema.field("run_id").type == pa.string()

    # a user's read: a folder of Hive partitions
    dataset = ds.dataset(
        tmp_path / "exports/product_forecasts", format="parquet", partitioning="hive"
    )
    table = dataset.to_table()
    assert table.num_rows == 24
    frame = table.to_pandas()
    assert sorted(frame["forecast_week"].unique()) == [WEEK_1, WEEK_2]
    assert frame.groupby("forecast_week")["run_id"].unique().map(list).to_dict() == {
        WEEK_1: ["run-a"],
        WEEK_2: ["run-b"],
    }
    assert set(frame["model_version"]) == {"7", "8"}
    week_2 = dataset.to_table(filter=ds.field("forecast_week") == WEEK_2).to_pandas()
    assert len(week_2) == 12
    assert week_2["target_week"].min() == date(2026, 11, 23)  # the week after the partition
    assert week_2["target_week"].max() == date(2026, 12, 14)
    assert week_2["units"].sum() == pytest.approx(product_forecasts(WEEK_2)["units"].sum())

    # datetime columns at midnight are dates too; nulls survive
    categories = exports.open_export(exports.dataset_uri(lake, "category_forecasts")).to_table()
    assert categories.schema.field("ds").type == pa.date32()
    assert categories.schema.field("forecast_week").type == pa.date32()
    assert sorted(set(categories.column("forecast_week").to_pylist())) == [
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    top = ds.dataset(tmp_path / "exports/top_products", format="parquet", partitioning="hive")
    assert top.to_table().column("product_name").null_count == 2


def test_local_exports_are_queryable_with_duckdb(tmp_path: Path) -> None:
    import duckdb

    lake = LocalLake(root=str(tmp_path))
    exports.export_run(lake, WEEK_1, "run-a", "7", run_tables(WEEK_1))
    exports.export_run(lake, WEEK_2, "run-b", "8", run_tables(WEEK_2, level=20.0))
    source = (
        f"read_parquet('{tmp_path}/exports/product_forecasts/*/*.parquet', "
        "hive_partitioning = true)"
    )
    con = duckdb.connect()

    counts = con.sql(f"SELECT forecast_week, count(*) FROM {source} GROUP BY 1 ORDER BY 1")
    assert [(str(week), n) for week, n in counts.fetchall()] == [(WEEK_1, 12), (WEEK_2, 12)]

    week_2 = con.sql(
        f"SELECT run_id, sum(units), min(target_week), typeof(min(target_week)) FROM {source} "
        f"WHERE forecast_week = '{WEEK_2}' GROUP BY run_id"
    ).fetchall()
    expected_units = product_forecasts(WEEK_2, level=20.0)["units"].sum()
    assert len(week_2) == 1
    run_id, units, first_target, target_type = week_2[0]
    assert run_id == "run-b"
    assert units == pytest.approx(expected_units)
    assert first_target == date(2026, 11, 23)
    assert target_type == "DATE"


def test_republishing_a_week_replaces_its_rows(tmp_path: Path) -> None:
    lake = LocalLake(root=str(tmp_path))
    exports.export_run(lake, WEEK_1, "run-a", "7", run_tables(WEEK_1))
    exports.export_run(lake, WEEK_2, "run-b", "7", run_tables(WEEK_2))
    before = files_under(tmp_path)
    # a re-run of week 1 with another model version and other figures
    exports.export_run(lake, WEEK_1, "run-c", "8", run_tables(WEEK_1, level=50.0))

    assert files_under(tmp_path) == before  # same keys, no second file for the week
    assert not list(tmp_path.rglob("*.part"))
    frame = (
        ds.dataset(tmp_path / "exports/product_forecasts", format="parquet", partitioning="hive")
        .to_table()
        .to_pandas()
    )
    assert len(frame) == 24
    week_1 = frame[frame["forecast_week"] == WEEK_1]
    assert set(week_1["run_id"]) == {"run-c"}
    assert set(week_1["model_version"]) == {"8"}
    assert week_1["units"].sum() == pytest.approx(product_forecasts(WEEK_1, 50.0)["units"].sum())
    assert set(frame.loc[frame["forecast_week"] == WEEK_2, "run_id"]) == {"run-b"}


def s3_filesystem(moto_endpoint: str) -> fs.S3FileSystem:
    """What a user outside the platform opens: pyarrow's own S3 client, on the moto server."""
    return fs.S3FileSystem(
        endpoint_override=urlsplit(moto_endpoint).netloc,
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
    )


def test_s3_exports_through_dagster_aws(s3_bucket: str, moto_endpoint: str) -> None:
    lake = S3Lake(s3=S3Resource(), bucket=s3_bucket, prefix="lake")
    uris = exports.export_run(lake, WEEK_1, "run-a", "7", run_tables(WEEK_1))
    exports.export_run(lake, WEEK_2, "run-b", "7", run_tables(WEEK_2))
    exports.export_run(lake, WEEK_2, "run-c", "8", run_tables(WEEK_2, level=30.0))  # re-run

    assert uris["top_products"] == (
        f"s3://{s3_bucket}/lake/exports/top_products/forecast_week=2026-11-09/part-0.parquet"
    )
    listed = boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert sorted(obj["Key"] for obj in listed) == [
        f"lake/exports/{table}/forecast_week={week}/part-0.parquet"
        for table in ("category_forecasts", "product_forecasts", "top_products")
        for week in (WEEK_1, WEEK_2)
    ]

    s3 = s3_filesystem(moto_endpoint)
    dataset = ds.dataset(
        f"{s3_bucket}/lake/exports/product_forecasts",
        filesystem=s3,
        format="parquet",
        partitioning="hive",
    )
    frame = dataset.to_table().to_pandas()
    assert len(frame) == 24
    assert frame.groupby("forecast_week")["run_id"].unique().map(list).to_dict() == {
        WEEK_1: ["run-a"],
        WEEK_2: ["run-c"],
    }
    typed = exports.open_export(exports.dataset_uri(lake, "product_forecasts"), filesystem=s3)
    assert typed.schema.field("forecast_week").type == pa.date32()
    assert typed.schema.field("target_week").type == pa.date32()
    assert typed.count_rows(filter=ds.field("forecast_week") == date(2026, 11, 16)) == 12


def test_s3_exports_are_queryable_with_duckdb_through_arrow(
    s3_bucket: str, moto_endpoint: str
) -> None:
    import duckdb

    lake = S3Lake(s3=S3Resource(), bucket=s3_bucket, prefix="lake")
    exports.export_run(lake, WEEK_1, "run-a", "7", run_tables(WEEK_1))
    exports.export_run(lake, WEEK_2, "run-b", "8", run_tables(WEEK_2, level=20.0))
    dataset = ds.dataset(
        f"{s3_bucket}/lake/exports/product_forecasts",
        filesystem=s3_filesystem(moto_endpoint),
        format="parquet",
        partitioning="hive",
    )
    con = duckdb.connect()
    con.register("product_forecasts", dataset)
    rows = con.sql(
        "SELECT forecast_week, run_id, count(*), sum(units) FROM product_forecasts "
        "GROUP BY ALL ORDER BY forecast_week"
    ).fetchall()
    assert [(str(week), run, n) for week, run, n, _ in rows] == [
        (WEEK_1, "run-a", 12),
        (WEEK_2, "run-b", 12),
    ]
    assert rows[1][3] == pytest.approx(product_forecasts(WEEK_2, level=20.0)["units"].sum())
    snacks = con.sql(
        "SELECT count(*) FROM product_forecasts "
        f"WHERE forecast_week = '{WEEK_1}' AND category = 'snacks'"
    ).fetchone()
    assert snacks == (4,)


@pytest.mark.parametrize(
    ("week", "table", "message"),
    [
        ("2026-13-01", "product_forecasts", "not a calendar date"),
        ("last week", "product_forecasts", "expected the weekly partition key"),
        ("20261109", "product_forecasts", "expected the weekly partition key"),
        ("2026-11-10", "product_forecasts", "start on a Monday"),
        (WEEK_1, "../x", "invalid export table name '../x'"),
        (WEEK_1, "Product Forecasts", "lowercase identifier"),
    ],
)
def test_bad_week_or_table_raises_and_writes_nothing(
    tmp_path: Path, week: str, table: str, message: str
) -> None:
    lake = LocalLake(root=str(tmp_path))
    tables = {"top_products": top_products(), table: product_forecasts(WEEK_1)}
    with pytest.raises(ValueError, match=message):
        exports.export_run(lake, week, "run-a", "7", tables)
    assert files_under(tmp_path) == []


def test_bad_dates_raise_before_any_table_is_written(tmp_path: Path) -> None:
    lake = LocalLake(root=str(tmp_path))
    broken = product_forecasts(WEEK_1)
    broken.loc[5, "target_week"] = "23/11/2026"
    with pytest.raises(ValueError, match=r"product_forecasts\.target_week .*'23/11/2026'"):
        exports.export_run(
            lake,
            WEEK_1,
            "run-a",
            "7",
            {"top_products": top_products(), "product_forecasts": broken},
        )
    with pytest.raises(ValueError, match="forecast_week column"):
        exports.export_run(
            lake,
            WEEK_1,
            "run-a",
            "7",
            {"top_products": top_products().assign(forecast_week=WEEK_2)},
        )
    with pytest.raises(ValueError, match="run_id must be a non-empty string"):
        exports.export_run(lake, WEEK_1, "", "7", {"top_products": top_products()})
    assert files_under(tmp_path) == []
