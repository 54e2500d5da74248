"""The lake and the landing zone: local folder and S3 (dagster-aws against a moto server)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import boto3
import pandas as pd
from dagster_aws.s3 import S3Resource

from forecast_pipeline.defs.resources import LocalLake, LocalLandingZone, S3Lake, S3LandingZone


def test_local_lake_round_trip(tmp_path: Path) -> None:
    lake = LocalLake(root=str(tmp_path))
    assert not lake.exists("raw/a.csv")
    uri = lake.write_bytes("raw/a.csv", b"x,y\n1,2\n")
    assert uri == (tmp_path / "raw" / "a.csv").as_uri()
    assert lake.read_bytes("raw/a.csv") == b"x,y\n1,2\n"
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    lake.write_parquet("features/f.parquet", frame)
    pd.testing.assert_frame_equal(lake.read_parquet("features/f.parquet"), frame)
    assert not list(tmp_path.rglob("*.part"))


def test_s3_lake_round_trip(s3_bucket: str) -> None:
    lake = S3Lake(s3=S3Resource(), bucket=s3_bucket, prefix="lake")
    assert not lake.exists("raw/a.csv")
    assert lake.write_bytes("raw/a.csv", b"bytes") == f"s3://{s3_bucket}/lake/raw/a.csv"
    assert lake.exists("raw/a.csv")
    assert not lake.exists("raw/a.cs")  # a prefix of a key is not the key
    assert lake.read_bytes("raw/a.csv") == b"bytes"
    frame = pd.DataFrame({"units": [1.5, 2.0]})
    lake.write_parquet("forecasts/week=2026-11-09/x.parquet", frame)
    pd.testing.assert_frame_equal(lake.read_parquet("forecasts/week=2026-11-09/x.parquet"), frame)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(keys) == ["lake/forecasts/week=2026-11-09/x.parquet", "lake/raw/a.csv"]


def test_local_landing_skips_partial_hidden_and_unsettled_files(tmp_path: Path) -> None:
    (tmp_path / "q1.csv").write_text("a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "q2.csv").write_text("b\n")
    (tmp_path / "q3.csv.part").write_text("partial")
    (tmp_path / ".hidden.csv").write_text("x")
    old = time.time() - 60
    for path in tmp_path.rglob("*"):
        os.utime(path, (old, old))
    (tmp_path / "fresh.csv").write_text("still being written")
    landing = LocalLandingZone(root=str(tmp_path), settle_seconds=5)
    assert [f.key for f in landing.list_files()] == ["q1.csv", "sub/q2.csv"]
    assert landing.read_bytes("sub/q2.csv") == b"b\n"


def test_s3_landing_lists_every_page(s3_bucket: str) -> None:
    client = boto3.client("s3")
    for i in range(25):
        client.put_object(Bucket=s3_bucket, Key=f"landing/f{i:04d}.csv", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="elsewhere/g.csv", Body=b"x")
    landing = S3LandingZone(
        s3=S3Resource(), bucket=s3_bucket, prefix="landing", settle_seconds=0, page_size=10
    )
    files = landing.list_files()  # three pages
    assert len(files) == 25
    assert files[0].key == "f0000.csv" and files[-1].key == "f0024.csv"
    assert all(f.version for f in files)  # the etag
    assert landing.read_bytes("f0003.csv") == b"x"
    assert landing.uri("f0003.csv") == f"s3://{s3_bucket}/landing/f0003.csv"


def test_s3_landing_version_changes_with_content(s3_bucket: str) -> None:
    client = boto3.client("s3")
    landing = S3LandingZone(s3=S3Resource(), bucket=s3_bucket, settle_seconds=0)
    client.put_object(Bucket=s3_bucket, Key="landing/a.csv", Body=b"one")
    first = landing.list_files()[0].version
    client.put_object(Bucket=s3_bucket, Key="landing/a.csv", Body=b"two")
    assert landing.list_files()[0].version != first
