"""The landing-zone sensor: run requests, partitions and the cursor, for a folder and for S3."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from forecast_pipeline.defs.ingest.sensors import landing_zone_sensor
from forecast_pipeline.defs.partitions import sales_uploads
from forecast_pipeline.defs.resources import LandingZone, LocalLandingZone, S3LandingZone


def _sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _tick(instance: dg.DagsterInstance, landing: LandingZone, cursor: str | None):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": landing}
    ) as context:
        result = landing_zone_sensor(context)
    assert isinstance(result, dg.SensorResult)
    # what the daemon does with the partition requests
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(sales_uploads.name, list(request.partition_keys))
    return result


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_folder_sensor_requests_each_content_once(tmp_path: Path, instance) -> None:
    (tmp_path / "q1.csv").write_bytes(b"date,product_id\n2024-01-01,P1\n")
    (tmp_path / "q2.csv").write_bytes(b"date,product_id\n2024-04-01,P2\n")
    landing = LocalLandingZone(root=str(tmp_path), settle_seconds=0)

    first = _tick(instance, landing, None)
    expected = [
        f"q1.csv@{_sha12((tmp_path / 'q1.csv').read_bytes())}",
        f"q2.csv@{_sha12((tmp_path / 'q2.csv').read_bytes())}",
    ]
    assert [r.partition_key for r in first.run_requests] == expected
    assert [r.run_key for r in first.run_requests] == expected
    assert list(first.dynamic_partitions_requests[0].partition_keys) == expected
    assert set(json.loads(first.cursor)) == {"q1.csv", "q2.csv"}

    # nothing new: no request, same cursor
    second = _tick(instance, landing, first.cursor)
    assert second.run_requests == []
    assert second.cursor == first.cursor

    # the same bytes under another name are not ingested again, but the cursor moves on
    (tmp_path / "copy_of_q1.csv").write_bytes((tmp_path / "q1.csv").read_bytes())
    third = _tick(instance, landing, second.cursor)
    assert third.run_requests == []
    assert "copy_of_q1.csv" in json.loads(third.cursor)

    # a corrected file with new content is a new upload under the same name
    corrected = b"date,product_id\n2024-01-01,P1\n2024-01-02,P1\n"
    (tmp_path / "q1.csv").write_bytes(corrected)
    fourth = _tick(instance, landing, third.cursor)
    assert [r.partition_key for r in fourth.run_requests] == [f"q1.csv@{_sha12(corrected)}"]
    assert set(instance.get_dynamic_partitions(sales_uploads.name)) == {
        *expected,
        f"q1.csv@{_sha12(corrected)}",
    }


def test_folder_sensor_waits_for_files_to_settle(tmp_path: Path, instance) -> None:
    (tmp_path / "q1.csv").write_bytes(b"being written")
    (tmp_path / "q2.csv.part").write_bytes(b"partial")
    landing = LocalLandingZone(root=str(tmp_path), settle_seconds=3600)
    result = _tick(instance, landing, None)
    assert result.run_requests == []
    assert json.loads(result.cursor) == {}


def test_s3_sensor_requests_and_cursor(s3_bucket: str, instance) -> None:
    client = boto3.client("s3")
    body = b"date,product_id\n2024-01-01,P1\n"
    client.put_object(Bucket=s3_bucket, Key="landing/merchant-a/jan.csv", Body=body)
    landing = S3LandingZone(s3=S3Resource(), bucket=s3_bucket, prefix="landing", settle_seconds=0)

    first = _tick(instance, landing, None)
    assert [r.partition_key for r in first.run_requests] == [f"merchant-a/jan.csv@{_sha12(body)}"]
    etag = client.head_object(Bucket=s3_bucket, Key="landing/merchant-a/jan.csv")["ETag"]
    assert json.loads(first.cursor) == {"merchant-a/jan.csv": etag.strip('"')}

    assert _tick(instance, landing, first.cursor).run_requests == []
