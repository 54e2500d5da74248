"""The whole ensemble as one MLflow model.

:class:`ForecasterModel` wraps a trained :class:`~forecast_pipeline.ml.forecaster.Forecaster`
(global models, per-series model configuration, ensemble weights, reconciliation variances,
interval calibration) as an MLflow ``pyfunc``. Its input is a features frame (one row per
product and week: ``unique_id``, ``ds``, ``y``, ``category`` and optional exogenous columns);
its output is the reconciled forecast of every level with its intervals, or the week / month /
year window totals with ``params={"output": "windows"}``.

The model directory carries the ``forecast_pipeline`` package as its code, so it loads in any
Python environment with the pinned requirements, without this repository installed.
"""

from __future__ import annotations

import pickle
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from forecast_pipeline.ml.forecaster import FEATURE_COLUMNS, Forecaster

__all__ = ["MODEL_ARTIFACT", "ForecasterModel", "log_forecaster", "signature"]

MODEL_ARTIFACT = "model"
_FORECASTER_FILE = "forecaster.pkl"
_PACKAGE = Path(__file__).resolve().parents[1]
_REQUIREMENTS = (
    "mlflow",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "mlforecast",
    "utilsforecast",
    "statsforecast",
    "lightgbm",
    "xgboost",
    "prophet",
    "holidays",
    "pyarrow",
)


class ForecasterModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc around a trained forecaster (see the module docstring)."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["forecaster"], "rb") as handle:
            self.forecaster: Forecaster = pickle.load(handle)

    # MLflow reads the annotations of ``predict`` as a data schema; the signature logged with
    # the model describes the frames instead, so the arguments stay unannotated.
    def predict(self, context, model_input, params=None):
        params = params or {}
        horizon = params.get("horizon")
        result = self.forecaster.forecast_features(
            pd.DataFrame(model_input), horizon=int(horizon) if horizon else None
        )
        output = params.get("output", "steps")
        if output == "windows":
            return result.windows
        if output != "steps":
            raise ValueError(f"output must be 'steps' or 'windows', got {output!r}")
        return result.steps


def signature(forecaster: Forecaster, exog_columns: list[str]) -> ModelSignature:
    """Input: the features frame; output: the per-period forecast; params: horizon, output."""
    inputs = Schema(
        [
            ColSpec("string", "unique_id"),
            ColSpec("datetime", "ds"),
            ColSpec("double", "y"),
            ColSpec("string", "category"),
            *[ColSpec("double", name, required=False) for name in exog_columns],
        ]
    )
    outputs = Schema(
        [
            ColSpec("string", "level"),
            ColSpec("string", "unique_id"),
            ColSpec("datetime", "ds"),
            ColSpec("long", "step"),
            ColSpec("double", "yhat"),
            *[ColSpec("double", f"{side}_{level}") for level in (80, 95) for side in ("lo", "hi")],
            ColSpec("boolean", "cold_start"),
        ]
    )
    params = ParamSchema(
        [
            ParamSpec("horizon", "long", forecaster.spec.horizon),
            ParamSpec("output", "string", "steps"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _requirements() -> list[str]:
    pinned = []
    for name in _REQUIREMENTS:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pinned


def log_forecaster(
    forecaster: Forecaster,
    registered_model_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Any:
    """Log ``forecaster`` as a pyfunc model of the active run (registering it as a new version
    of ``registered_model_name`` when given); returns MLflow's ``ModelInfo``."""
    exog = list(forecaster.global_models.exog_columns) if forecaster.global_models else []
    unexpected = [c for c in exog if c in FEATURE_COLUMNS]
    if unexpected:
        raise ValueError(f"exogenous columns clash with the features frame: {unexpected}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / _FORECASTER_FILE
        with open(path, "wb") as handle:
            pickle.dump(forecaster, handle, protocol=pickle.HIGHEST_PROTOCOL)
        with warnings.catch_warnings():
            # the signature below describes the frames; an input example would be a whole
            # history, too large to store with every version
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            return mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=ForecasterModel(),
                artifacts={"forecaster": str(path)},
                code_paths=[str(_PACKAGE)],
                signature=signature(forecaster, exog),
                pip_requirements=_requirements(),
                registered_model_name=registered_model_name,
                tags=tags,
            )
