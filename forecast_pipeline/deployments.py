"""The two deployments and the one place that picks between them.

``current_deployment()`` is the only function that reads ``FORECAST_DEPLOYMENT``. Resources
for each deployment come from :data:`RESOURCES_BY_DEPLOYMENT`; every setting inside them is a
``dg.EnvVar``, resolved when a run starts, never while definitions load.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource

from forecast_pipeline.defs.indicators.resources import ExternalIndicators, SyntheticIndicators
from forecast_pipeline.defs.monitoring.alerts import AlertWebhook
from forecast_pipeline.defs.monitoring.policy import MonitoringPolicy
from forecast_pipeline.defs.monitoring.retraining import RetrainingPolicy
from forecast_pipeline.defs.resources import (
    LocalLake,
    LocalLandingZone,
    MlflowTracking,
    PromotionPolicy,
    S3Lake,
    S3LandingZone,
    Warehouse,
)

DEPLOYMENT_ENV_VAR = "FORECAST_DEPLOYMENT"


class Deployment(StrEnum):
    LOCAL = "local"
    PRODUCTION = "production"


class UnknownDeploymentError(ValueError):
    """Raised for a ``FORECAST_DEPLOYMENT`` value that names no deployment."""


def parse_deployment(value: str) -> Deployment:
    """Turn a deployment name into a :class:`Deployment`, failing loudly on anything else."""
    try:
        return Deployment(value.strip().lower())
    except ValueError:
        known = ", ".join(d.value for d in Deployment)
        raise UnknownDeploymentError(
            f"Unknown deployment {value!r} in {DEPLOYMENT_ENV_VAR}; expected one of: {known}"
        ) from None


def current_deployment() -> Deployment:
    """The deployment named by ``FORECAST_DEPLOYMENT`` (``local`` when unset)."""
    return parse_deployment(os.environ.get(DEPLOYMENT_ENV_VAR, Deployment.LOCAL.value))


def _shared_resources() -> dict[str, Any]:
    return {
        "warehouse": Warehouse(url=dg.EnvVar("FORECAST_WAREHOUSE_URL")),
        "mlflow": MlflowTracking(
            tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
            artifact_location=dg.EnvVar("FORECAST_MLFLOW_ARTIFACTS"),
        ),
        "promotion_policy": PromotionPolicy(),
        "monitoring_policy": MonitoringPolicy(),
        # early retraining on escalated error drift: off unless enabled here and its sensor on
        "retraining_policy": RetrainingPolicy(),
    }


def _local_resources() -> dict[str, Any]:
    return {
        **_shared_resources(),
        "lake": LocalLake(root=dg.EnvVar("FORECAST_LAKE_ROOT")),
        "landing": LocalLandingZone(root=dg.EnvVar("FORECAST_LANDING_DIR")),
        # read only when an alert sensor ticks (they are off by default)
        "alert_webhook": AlertWebhook(
            url=dg.EnvVar("FORECAST_ALERT_WEBHOOK_URL"), dagster_url="http://127.0.0.1:3000"
        ),
        # offline: no network and no FRED key needed; rows are stored with source 'synthetic'
        "indicator_source": SyntheticIndicators(),
    }


def _production_resources() -> dict[str, Any]:
    # boto3 reads AWS_ENDPOINT_URL itself, so MinIO or a moto server need no code change.
    s3 = S3Resource()
    return {
        **_shared_resources(),
        "lake": S3Lake(s3=s3, bucket=dg.EnvVar("FORECAST_LAKE_BUCKET"), prefix="lake"),
        "landing": S3LandingZone(
            s3=s3, bucket=dg.EnvVar("FORECAST_LANDING_BUCKET"), prefix="landing"
        ),
        "indicator_source": ExternalIndicators(fred_api_key=dg.EnvVar("FRED_API_KEY")),
        "alert_webhook": AlertWebhook(
            url=dg.EnvVar("FORECAST_ALERT_WEBHOOK_URL"),
            dagster_url=dg.EnvVar("FORECAST_DAGSTER_URL"),
        ),
    }


RESOURCES_BY_DEPLOYMENT = {
    Deployment.LOCAL: _local_resources,
    Deployment.PRODUCTION: _production_resources,
}


def resources_for(deployment: Deployment) -> dict[str, Any]:
    """The resource mapping of one deployment (no environment read, no connection)."""
    return RESOURCES_BY_DEPLOYMENT[deployment]()
