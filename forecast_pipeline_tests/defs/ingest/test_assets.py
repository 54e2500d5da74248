"""Ingest assets materialised on real Postgres: quarantine, the blocking check, supersession."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest

from forecast_pipeline.defs.ingest.assets import (
    CONTRACT_CHECK,
    sales_file,
    sales_history,
    sales_rows,
)
from forecast_pipeline.defs.partitions import sales_uploads
from forecast_pipeline.defs.resources import LocalLake, LocalLandingZone, Warehouse
from forecast_pipeline.warehouse import merge

HEADER = "date,store_id,product_id,product_name,category,units,unit_price,revenue,on_promotion\n"
HISTORY = dg.AssetKey(["warehouse", "sales_history"])


@pytest.fixture
def ingest(tmp_path: Path, warehouse_url: str):
    landing_dir = tmp_path / "landing"
    landing_dir.mkdir()
    resources = {
        "warehouse": Warehouse(url=warehouse_url),
        "lake": LocalLake(root=str(tmp_path / "lake")),
        "landing": LocalLandingZone(root=str(landing_dir), settle_seconds=0),
    }
    with dg.instance_for_test() as instance:

        def run(name: str, content: str) -> tuple[str, dg.ExecuteInProcessResult]:
            data = content.encode()
            (landing_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (landing_dir / name).write_bytes(data)
            upload = f"{name}@{hashlib.sha256(data).hexdigest()[:12]}"
            instance.add_dynamic_partitions(sales_uploads.name, [upload])
            result = dg.materialize(
                [sales_file, sales_rows, sales_history],
                partition_key=upload,
                instance=instance,
                resources=resources,
                raise_on_error=False,
            )
            return upload, result

        yield run


def _query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert evaluation.check_name == CONTRACT_CHECK
    return evaluation


def test_good_file_reaches_the_history(ingest, warehouse_url: str) -> None:
    upload, result = ingest(
        "jan.csv",
        HEADER
        + "2024-01-01,S1,P1,Mug,Kitchen,3,4.50,13.50,false\n"
        + "2024-01-01,S1,P2,Pan,Kitchen,1,20.00,20.00,true\n",
    )
    assert result.success
    assert _check(result).passed
    assert _query(
        warehouse_url,
        "SELECT sale_date::text, product_id, units, upload_id, line_number "
        "FROM warehouse.sales_history ORDER BY product_id",
    ) == [("2024-01-01", "P1", 3, upload, 2), ("2024-01-01", "P2", 1, upload, 3)]
    assert _query(
        warehouse_url,
        "SELECT status, rows_read, rows_accepted, rows_rejected FROM warehouse.uploads",
    ) == [("merged", 2, 2, 0)]


def test_too_many_bad_rows_block_the_upload(ingest, warehouse_url: str) -> None:
    rows = [f"2024-01-{d:02d},S1,P1,Mug,Kitchen,2,4.50,9.00,false\n" for d in range(1, 9)]
    rows[2] = "2024-01-03,S1,P1,Mug,Kitchen,lots,4.50,9.00,false\n"  # line 4
    rows[5] = "2024-13-06,S1,P1,Mug,Kitchen,2,4.50,9.00,false\n"  # line 7
    upload, result = ingest("bad.csv", HEADER + "".join(rows))
    check = _check(result)
    assert not check.passed  # 2 of 8 rejected, above the 5% threshold
    assert not result.success  # the blocking check stopped the run
    assert HISTORY not in {
        mat.asset_key for mat in result.asset_materializations_for_node("warehouse__sales_history")
    }
    assert _query(warehouse_url, "SELECT count(*) FROM warehouse.sales_history") == [(0,)]
    assert _query(
        warehouse_url,
        "SELECT line_number, column_name, value, rule FROM warehouse.upload_rejections "
        "WHERE upload_id = %s ORDER BY line_number",
        (upload,),
    ) == [(4, "units", "lots", "logicalType"), (7, "date", "2024-13-06", "logicalType")]
    assert _query(
        warehouse_url,
        "SELECT status, rows_read, rows_accepted, rows_rejected FROM warehouse.uploads",
    ) == [("validated", 8, 6, 2)]


def test_file_without_a_required_column_is_rejected_whole(ingest, warehouse_url: str) -> None:
    _, result = ingest("nocat.csv", "date,product_id,units\n2024-01-01,P1,3\n")
    assert not _check(result).passed
    assert not result.success
    [(status, reason, rows_read)] = _query(
        warehouse_url, "SELECT status, rejection_reason, rows_read FROM warehouse.uploads"
    )
    assert status == "rejected" and rows_read == 0
    assert "category" in reason


def test_corrected_upload_supersedes_by_natural_key(ingest, warehouse_url: str) -> None:
    first, _ = ingest(
        "jan.csv",
        HEADER
        + "2024-01-01,S1,P1,Mug,Kitchen,3,4.50,13.50,false\n"
        + "2024-01-02,S1,P1,Mug,Kitchen,5,4.50,22.50,false\n",
    )
    second, result = ingest(
        "jan_fixed.csv", HEADER + "2024-01-02,S1,P1,Mug,Kitchen,7,4.50,31.50,false\n"
    )
    assert result.success
    assert _query(
        warehouse_url,
        "SELECT sale_date::text, units, upload_id FROM warehouse.sales_history ORDER BY sale_date",
    ) == [("2024-01-01", 3, first), ("2024-01-02", 7, second)]
    assert _query(
        warehouse_url,
        "SELECT product_id, first_sale_date::text, last_sale_date::text FROM warehouse.products",
    ) == [("P1", "2024-01-01", "2024-01-02")]
    # lineage to both uploads: the replaced values are kept with the upload that replaced them
    assert _query(
        warehouse_url,
        "SELECT sale_date::text, previous_upload_id, previous_line_number, previous_units, "
        "upload_id, line_number, units FROM warehouse.sales_history_changes",
    ) == [("2024-01-02", first, 3, 5, second, 2, 7)]
    merged = result.asset_materializations_for_node("warehouse__sales_history")[0].metadata
    assert merged["superseded"].value == 1 and merged["inserted"].value == 0


def test_category_case_variants_join_the_known_category(ingest, warehouse_url: str) -> None:
    ingest("a.csv", HEADER + "2024-01-01,S1,P1,Mug,Kitchen,3,4.50,13.50,false\n")
    _, result = ingest(
        "b.csv",
        HEADER
        + "2024-01-02,S1,P2,Pan,KITCHEN,1,20.00,20.00,false\n"
        + "2024-01-03,S1,P1,Mug,Garden,2,4.50,9.00,false\n",
    )
    assert result.success
    assert _query(
        warehouse_url, "SELECT product_id, category FROM warehouse.products ORDER BY product_id"
    ) == [("P1", "Garden"), ("P2", "Kitchen")]
    merged = result.asset_materializations_for_node("warehouse__sales_history")[0].metadata
    assert merged["categories_respelled"].value == 1
    assert merged["products_recategorised"].value == 1


def test_merging_an_older_upload_again_keeps_the_newer_rows(ingest, warehouse_url: str) -> None:
    old, _ = ingest("jan.csv", HEADER + "2024-01-02,S1,P1,Mug,Kitchen,5,4.50,22.50,false\n")
    new, _ = ingest("fix.csv", HEADER + "2024-01-02,S1,P1,Mug,Kitchen,7,4.50,31.50,false\n")
    old_rows = pd.DataFrame(
        {
            "date": ["2024-01-02"],
            "store_id": ["S1"],
            "product_id": ["P1"],
            "product_name": ["Mug"],
            "category": ["Kitchen"],
            "units": [5],
            "unit_price": [4.5],
            "revenue": [22.5],
            "on_promotion": [False],
            "line_number": [2],
        }
    )
    with psycopg.connect(warehouse_url) as conn:
        counts = merge.merge_upload(conn, old, old_rows)
    assert (counts.kept_newer, counts.updated, counts.superseded) == (1, 0, 0)
    assert _query(warehouse_url, "SELECT units, upload_id FROM warehouse.sales_history") == [
        (7, new)
    ]


def test_transaction_export_is_mapped_and_summed_to_days(ingest, warehouse_url: str) -> None:
    # the superstore mapping matches landing keys under superstore/
    export = (
        "Row ID,Order ID,Order Date,Product ID,Product Name,Category,Sub-Category,Sales,Quantity\n"
        "1,CA-1,2024-01-05,FUR-1,Chair,Furniture,Chairs,100.00,2\n"
        "2,CA-2,2024-01-05,FUR-1,Chair,Furniture,Chairs,55.00,1\n"
        "3,CA-3,2024-01-06,OFF-9,Paper,Office Supplies,Paper,12.50,x\n"
        "4,CA-3,2024-01-06,OFF-9,Paper,Office Supplies,Paper,12.50,5\n"
    )
    _, result = ingest("superstore/jan.csv", export)
    validated = result.asset_materializations_for_node("validated__sales_rows")[0].metadata
    assert validated["column_mapping"].value == "superstore"
    assert (validated["rows_read"].value, validated["rows_rejected"].value) == (4, 1)
    assert _query(
        warehouse_url,
        "SELECT line_number, column_name, value, rule FROM warehouse.upload_rejections",
    ) == [(4, "units", "x", "logicalType")]
    # 25% rejected is over the threshold: nothing merged
    assert not result.success
    assert _query(warehouse_url, "SELECT count(*) FROM warehouse.sales_history") == [(0,)]

    clean = export.replace(",x\n", ",3\n")
    _, result = ingest("superstore/jan_fixed.csv", clean)
    assert result.success
    assert _query(
        warehouse_url,
        "SELECT sale_date::text, store_id, product_id, units, revenue::float8, line_number "
        "FROM warehouse.sales_history ORDER BY sale_date",
    ) == [
        ("2024-01-05", "main", "FUR-1", 3, 155.0, 2),
        ("2024-01-06", "main", "OFF-9", 8, 25.0, 4),
    ]


def test_s3_landing_to_history_through_the_production_resources(
    s3_bucket: str, warehouse_url: str
) -> None:
    import boto3
    from dagster_aws.s3 import S3Resource

    from forecast_pipeline.defs.ingest.sensors import landing_zone_sensor
    from forecast_pipeline.defs.resources import S3Lake, S3LandingZone

    body = (HEADER + "2024-01-01,S1,P1,Mug,Kitchen,3,4.50,13.50,false\n").encode()
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="landing/shop/jan.csv", Body=body)
    s3 = S3Resource()
    landing = S3LandingZone(s3=s3, bucket=s3_bucket, prefix="landing", settle_seconds=0)
    resources = {
        "warehouse": Warehouse(url=warehouse_url),
        "lake": S3Lake(s3=s3, bucket=s3_bucket, prefix="lake"),
        "landing": landing,
    }
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"landing": landing}) as ctx:
            tick = landing_zone_sensor(ctx)
        (request,) = tick.run_requests
        instance.add_dynamic_partitions(sales_uploads.name, [request.partition_key])
        result = dg.materialize(
            [sales_file, sales_rows, sales_history],
            partition_key=request.partition_key,
            instance=instance,
            resources=resources,
        )
    assert result.success
    raw_key = f"lake/raw/sales/{request.partition_key}/jan.csv"
    stored = boto3.client("s3").get_object(Bucket=s3_bucket, Key=raw_key)["Body"].read()
    assert stored == body
    assert _query(warehouse_url, "SELECT source_uri, raw_uri, status FROM warehouse.uploads") == [
        (
            f"s3://{s3_bucket}/landing/shop/jan.csv",
            f"s3://{s3_bucket}/{raw_key}",
            "merged",
        )
    ]
    assert _query(warehouse_url, "SELECT product_id, units FROM warehouse.sales_history") == [
        ("P1", 3)
    ]
