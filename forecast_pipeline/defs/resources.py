"""Typed Dagster resources: the warehouse, the lake, the landing zone and MLflow (the indicator
sources are in ``defs/indicators/resources.py``).

Each external system has one interface with a local and a production implementation, so the
same assets and sensors run on a laptop and in production. Resources connect lazily, inside
their methods; constructing one touches nothing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd
import psycopg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from forecast_pipeline.tracking.names import DEFAULT_MODEL_NAME

if TYPE_CHECKING:
    from forecast_pipeline.ml.promotion import GateRule
    from forecast_pipeline.tracking.registry import ModelRegistry

IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


class Warehouse(dg.ConfigurableResource):
    """The Postgres warehouse (sales history, uploads registry, forecasts, ``analytics`` views)."""

    url: str

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection whose transaction commits when the block ends without error (or, with
        ``autocommit``, one that commits every statement, for DDL such as detaching
        partitions concurrently)."""
        with psycopg.connect(self.url, autocommit=autocommit) as conn:
            yield conn


class Lake(dg.ConfigurableResource):
    """Object storage for raw files and Parquet snapshots, addressed by ``/``-separated keys."""

    def uri(self, key: str) -> str:
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes) -> str:
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def write_parquet(self, key: str, frame: pd.DataFrame) -> str:
        """Write ``frame`` as Parquet under ``key`` and return its URI."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return self.write_bytes(key, buffer.getvalue())

    def read_parquet(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.read_bytes(key)))


class LocalLake(Lake):
    """The lake as a folder on local disk (the local deployment)."""

    root: str

    def _path(self, key: str) -> Path:
        return Path(self.root) / key

    def uri(self, key: str) -> str:
        return self._path(key).resolve().as_uri()

    def write_bytes(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


class S3Lake(Lake):
    """The lake in an S3 bucket through dagster-aws (production; MinIO or moto in tests)."""

    s3: S3Resource
    bucket: str
    prefix: str = "lake"

    def _key(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def write_bytes(self, key: str, data: bytes) -> str:
        self.s3.get_client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        response = self.s3.get_client().get_object(Bucket=self.bucket, Key=self._key(key))
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        client = self.s3.get_client()
        listed = client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        return any(obj["Key"] == self._key(key) for obj in listed.get("Contents", []))


@dataclass(frozen=True)
class LandingFile:
    """One file seen in the landing zone."""

    key: str
    size: int
    modified: datetime
    version: str  # S3 etag or local size+mtime: changes when the content is replaced


class LandingZone(dg.ConfigurableResource):
    """Where merchants drop sales files: a local folder or an S3 prefix."""

    settle_seconds: float = 2.0

    def list_files(self) -> list[LandingFile]:
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def uri(self, key: str) -> str:
        raise NotImplementedError

    def _is_candidate(self, key: str, modified: datetime) -> bool:
        name = key.rsplit("/", 1)[-1]
        if not name or name.startswith((".", "~")) or name.endswith(IGNORED_SUFFIXES):
            return False
        age = datetime.now(UTC).timestamp() - modified.timestamp()
        return age >= self.settle_seconds


class LocalLandingZone(LandingZone):
    """A landing folder on local disk; sub-folders are scanned too."""

    root: str

    def list_files(self) -> list[LandingFile]:
        root = Path(self.root)
        if not root.is_dir():
            return []
        files = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = path.stat()
            modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
            key = path.relative_to(root).as_posix()
            if self._is_candidate(key, modified):
                files.append(
                    LandingFile(key, stat.st_size, modified, f"{stat.st_size}-{stat.st_mtime_ns}")
                )
        return files

    def read_bytes(self, key: str) -> bytes:
        return (Path(self.root) / key).read_bytes()

    def uri(self, key: str) -> str:
        return (Path(self.root) / key).resolve().as_uri()


class S3LandingZone(LandingZone):
    """A landing prefix in an S3 bucket, listed page by page."""

    s3: S3Resource
    bucket: str
    prefix: str = "landing"
    page_size: int = 1000

    def list_files(self) -> list[LandingFile]:
        paginator = self.s3.get_client().get_paginator("list_objects_v2")
        prefix = self.prefix.strip("/") + "/" if self.prefix else ""
        files = []
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
        )
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"][len(prefix) :]
                if self._is_candidate(key, obj["LastModified"]):
                    files.append(
                        LandingFile(key, obj["Size"], obj["LastModified"], obj["ETag"].strip('"'))
                    )
        return sorted(files, key=lambda f: f.key)

    def read_bytes(self, key: str) -> bytes:
        prefix = self.prefix.strip("/") + "/" if self.prefix else ""
        response = self.s3.get_client().get_object(Bucket=self.bucket, Key=prefix + key)
        return response["Body"].read()

    def uri(self, key: str) -> str:
        prefix = self.prefix.strip("/") + "/" if self.prefix else ""
        return f"s3://{self.bucket}/{prefix}{key}"


class MlflowTracking(dg.ConfigurableResource):
    """MLflow 3 tracking and model registry (Postgres backend store or an ``mlflow server``
    URL; artifacts in the lake).

    Each weekly training records into one MLflow run per Dagster run and partition, found
    again by its tags by every asset of the training. Against a database the store keeps at
    most ``pool_size + max_overflow`` connections per process.
    """

    tracking_uri: str
    artifact_location: str
    experiment: str = "forecast_pipeline"
    registered_model: str = Field(
        default=DEFAULT_MODEL_NAME,
        description="Registered model whose versions carry the champion / challenger aliases.",
    )
    pool_size: int = 2
    max_overflow: int = 2

    def activate(self) -> str:
        """Point MLflow at the tracking store (process-wide, as MLflow's fluent API requires);
        returns the experiment id (created on first use)."""
        import mlflow
        from mlflow.exceptions import MlflowException

        # read by MLflow when it builds the SQLAlchemy store of a tracking URI (once per
        # process and URI)
        os.environ["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"] = str(self.pool_size)
        os.environ["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"] = str(self.max_overflow)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        client = mlflow.MlflowClient()
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(
                self.experiment, artifact_location=self.artifact_location
            )
        except MlflowException:
            # another step process created it first
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    @contextmanager
    def training_run(
        self, partition: str, dagster_run_id: str, tags: dict[str, str]
    ) -> Iterator[str]:
        """The MLflow run of this Dagster run's training of ``partition``, active in the block
        (created by the first asset that logs, resumed by the next ones); yields its id."""
        import mlflow

        experiment_id = self.activate()
        found = mlflow.MlflowClient().search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`dagster.run_id` = '{dagster_run_id}' "
                f"and tags.`dagster.partition` = '{partition}'"
            ),
            max_results=1,
        )
        all_tags = {"dagster.run_id": dagster_run_id, "dagster.partition": partition, **tags}
        if found:
            with mlflow.start_run(run_id=found[0].info.run_id) as run:
                mlflow.set_tags(tags)
                yield run.info.run_id
        else:
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=f"train-{partition}", tags=all_tags
            ) as run:
                yield run.info.run_id

    def registry(self) -> ModelRegistry:
        """The registered model's versions and aliases."""
        import mlflow

        from forecast_pipeline.tracking.registry import ModelRegistry

        self.activate()
        return ModelRegistry(mlflow.MlflowClient(), self.registered_model)


class PromotionPolicy(dg.ConfigurableResource):
    """The promotion gate's rule: a challenger becomes champion only when, at every gated
    level, its backtest error is below the best baseline's and the champion's by ``margin``."""

    margin: float = Field(default=0.01, description="Relative improvement required (0.01 = 1%).")
    metric: str = Field(default="wape", description="Error metric compared: wape, mae, rmse, mase.")
    levels: list[str] = Field(default=["product", "category"], description="Gated levels.")
    baselines: list[str] = Field(
        default=["seasonal_naive", "moving_average"], description="Baselines to beat."
    )

    def rule(self) -> GateRule:
        from forecast_pipeline.ml.promotion import GateRule

        return GateRule(
            levels=tuple(self.levels),
            metric=self.metric,
            margin=self.margin,
            baselines=tuple(self.baselines),
        )
