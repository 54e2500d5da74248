"""MLflow: what each weekly training records, the ensemble as one pyfunc model, and the
registered model's champion / challenger aliases. No Dagster here."""

from forecast_pipeline.tracking.model import ForecasterModel, log_forecaster
from forecast_pipeline.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_MODEL_NAME,
    ModelRegistry,
    RegisteredVersion,
    UnknownVersionError,
)
from forecast_pipeline.tracking.runs import (
    backtest_metrics,
    code_version,
    log_backtest,
    log_feature_importances,
    log_figure,
    log_tuning,
    spec_params,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_MODEL_NAME",
    "ForecasterModel",
    "ModelRegistry",
    "RegisteredVersion",
    "UnknownVersionError",
    "backtest_metrics",
    "code_version",
    "log_backtest",
    "log_feature_importances",
    "log_figure",
    "log_forecaster",
    "log_tuning",
    "spec_params",
]
