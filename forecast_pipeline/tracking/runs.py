"""What one weekly training records in its MLflow run (plain functions; no Dagster here).

Every function logs into the active MLflow run. Many values go in one ``log_batch`` call, so a
training records its trials, metrics and parameters in a handful of database round trips.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param

from forecast_pipeline.ml import LEVELS, METRIC_COLUMNS, Evaluation, ForecastSpec

if TYPE_CHECKING:
    from forecast_pipeline.ml import TuningResult

__all__ = [
    "backtest_metrics",
    "code_version",
    "log_backtest",
    "log_feature_importances",
    "log_figure",
    "log_tuning",
    "spec_params",
]

_MAX_PARAM_LENGTH = 6000
_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch call


def spec_params(spec: ForecastSpec) -> dict[str, Any]:
    """The spec flattened into MLflow parameters."""
    params = asdict(spec)
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        elif isinstance(value, tuple):
            flat[key] = ",".join(str(v) for v in value)
        else:
            flat[key] = value
    return flat


def backtest_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """Overall backtest metrics as ``<model>.<level>.<metric>`` keys (finite values only)."""
    overall = metrics[metrics["cutoff"].isna()]
    names = [c for c in METRIC_COLUMNS if c not in ("model", "level", "cutoff")]
    logged: dict[str, float] = {}
    for row in overall.itertuples(index=False):
        for metric in names:
            value = float(getattr(row, metric))
            if math.isfinite(value):
                logged[f"{row.model}.{row.level}.{metric}"] = value
    return logged


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    try:
        version = metadata.version("forecast_pipeline")
    except metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}" if commit else version


def _log_batch(
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    steps: list[tuple[str, float, int]] | None = None,
) -> None:
    """Log metrics (``key -> value`` and ``(key, value, step)``) and parameters into the active
    run in as few calls as MLflow allows."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("no active MLflow run")
    now = int(time.time() * 1000)
    entries = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if math.isfinite(v)]
    entries += [Metric(k, float(v), now, step) for k, v, step in steps or [] if math.isfinite(v)]
    client = mlflow.MlflowClient()
    param_entries = [Param(k, str(v)[:_MAX_PARAM_LENGTH]) for k, v in (params or {}).items()]
    for start in range(0, len(param_entries), 90):  # at most 100 params per call
        client.log_batch(run.info.run_id, params=param_entries[start : start + 90])
    for start in range(0, len(entries), _BATCH):
        client.log_batch(run.info.run_id, metrics=entries[start : start + _BATCH])


def log_tuning(results: Mapping[str, TuningResult]) -> None:
    """The Optuna search of each tuned model: its trials as a table and as a stepped metric
    (``tuning.<model>.trial_wape``, step = trial number), the best and default WAPE, and the
    chosen hyper-parameters as ``tuned.<model>.<name>`` parameters."""
    steps, metrics, params = [], {}, {}
    for name, result in results.items():
        trials = result.trials
        mlflow.log_text(trials.to_csv(index=False), f"tuning/{name}_trials.csv")
        for row in trials.itertuples(index=False):
            if pd.notna(row.value):
                steps.append((f"tuning.{name}.trial_wape", float(row.value), int(row.number)))
        metrics[f"tuning.{name}.best_wape"] = float(result.best_wape)
        metrics[f"tuning.{name}.default_wape"] = float(result.default_wape)
        metrics[f"tuning.{name}.trials"] = float(len(trials))
        metrics[f"tuning.{name}.pruned"] = float(result.n_pruned)
        params.update({f"tuned.{name}.{k}": v for k, v in result.params.items()})
    _log_batch(metrics=metrics, params=params, steps=steps)


def log_backtest(spec: ForecastSpec, evaluation: Evaluation, weights: pd.DataFrame) -> None:
    """The forecast configuration as parameters; every model's backtest metrics per level as
    ``<model>.<level>.<metric>``; the ensemble weights; leaderboards and the per-cutoff table
    as CSV artifacts."""
    _log_batch(
        metrics={
            **backtest_metrics(evaluation.metrics),
            **{f"weight.{r.level}.{r.model}": float(r.weight) for r in weights.itertuples()},
        },
        params=spec_params(spec),
    )
    for level in LEVELS:
        board = evaluation.leaderboard(level)
        mlflow.log_text(board.to_csv(index=False), f"backtest/{level}.csv")
    mlflow.log_text(evaluation.metrics.to_csv(index=False), "backtest/metrics_by_cutoff.csv")
    mlflow.log_text(weights.to_csv(index=False), "ensemble/weights.csv")


def log_feature_importances(importances: pd.DataFrame, top: int = 20) -> None:
    """Feature importances of the global models (CSV and a bar chart per model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mlflow.log_text(importances.to_csv(index=False), "features/importances.csv")
    for model, frame in importances.groupby("model"):
        head = frame.nlargest(top, "importance").iloc[::-1]
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(head) + 1))
        ax.barh(head["feature"], head["importance"])
        ax.set_title(f"{model}: feature importance (share)")
        log_figure(fig, f"features/{model}_importance.png")


def log_figure(fig: Any, path: str) -> None:
    """A matplotlib figure as a PNG artifact (the figure is closed afterwards)."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(fig, path)
    plt.close(fig)
