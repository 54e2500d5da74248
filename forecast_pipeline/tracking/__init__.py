"""MLflow: what each weekly training records, the ensemble as one pyfunc model, and the
registered model's champion / challenger aliases. No Dagster here.

The names below are loaded on first use, so importing :mod:`forecast_pipeline.tracking.names`
(as the Dagster resources do while definitions load) does not import MLflow.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CHALLENGER": "names",
    "CHAMPION": "names",
    "DEFAULT_MODEL_NAME": "names",
    "ForecasterModel": "model",
    "log_forecaster": "model",
    "ModelRegistry": "registry",
    "RegisteredVersion": "registry",
    "UnknownVersionError": "registry",
    "backtest_metrics": "runs",
    "code_version": "runs",
    "log_backtest": "runs",
    "log_feature_importances": "runs",
    "log_figure": "runs",
    "log_tuning": "runs",
    "spec_params": "runs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
