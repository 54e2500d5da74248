"""The drift scenario of issue 10 with its figures: each week's error-drift and input-drift
verdicts, and the realised-accuracy chart of the last week as a PNG.

A champion is trained on the sample's sales up to ``--trained-week``; the following weeks are
published with it while, from ``--shift-weeks`` weeks after training, every day's units are
multiplied by ``--factor``. Databases are created on FORECAST_POSTGRES_URL (default: the local
server) and dropped at the end. Usage:

    .venv/bin/python benchmarks/drift_scenario.py [--products 18] [--factor 0.4] \
        [--weeks 6] [--shift-weeks 3] [--chart drift_accuracy.png]
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from forecast_pipeline.definitions import build_definitions
from forecast_pipeline.defs.resources import LocalLandingZone
from forecast_pipeline.deployments import Deployment
from forecast_pipeline.local_stack import local_environment
from forecast_pipeline.sample import SampleConfig
from forecast_pipeline.scenario import ShiftScenario, run_shift_scenario
from forecast_pipeline.settings import PlatformSettings
from forecast_pipeline.warehouse import databases, migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=18)
    parser.add_argument("--categories", type=int, default=3)
    parser.add_argument("--factor", type=float, default=0.4)
    parser.add_argument("--trained-week", type=date.fromisoformat, default=date(2026, 8, 31))
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--shift-weeks", type=int, default=3)
    parser.add_argument("--escalate-after", type=int, default=2)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--chart", type=Path, default=Path("drift_accuracy.png"))
    args = parser.parse_args()
    server = os.environ.get(
        "FORECAST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    names = [f"bench_drift_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("wh", "ml")]
    for name in names:
        databases.ensure_database(server, name)
    settings = PlatformSettings(
        home=Path(tempfile.mkdtemp(prefix="drift_")), warehouse_db=names[0], mlflow_db=names[1]
    )
    os.environ.update(local_environment(settings, server))
    migrate.upgrade(os.environ["FORECAST_WAREHOUSE_URL"])
    trained = args.trained_week
    scenario = ShiftScenario(
        sample=SampleConfig(
            seed=3,
            n_categories=args.categories,
            n_products=args.products,
            n_stores=1,
            end=trained + timedelta(weeks=args.weeks, days=6),
        ),
        trained_week=trained,
        shift_week=trained + timedelta(weeks=args.shift_weeks),
        factor=args.factor,
        weeks_after=args.weeks,
    )
    policy = {"error_window_weeks": args.window, "escalate_after_weeks": args.escalate_after}
    try:
        started = time.perf_counter()
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_shift_scenario(
                scenario,
                build_definitions(Deployment.LOCAL),
                instance,
                LocalLandingZone(root=str(settings.landing_dir), settle_seconds=0),
                settings.landing_dir,
                forecast_config={"backtest_windows": 2, "horizon_weeks": 13},
                tuning_config={"n_trials": 1, "max_series": 10},
                monitoring_policy=policy,
            )
            event = instance.get_latest_materialization_event(
                dg.AssetKey(["monitoring", "realised_accuracy"])
            )
        seconds = time.perf_counter() - started
    finally:
        for name in names:
            databases.drop_database(server, name)
    print(f"sample: {args.products} products, {args.categories} categories; trained {trained}")
    print(f"shift: units x{args.factor} from {scenario.shift_week}; policy {policy}")
    print(f"training: {result.trained}")
    print(f"scenario wall time: {seconds:.1f} s\n")
    print(f"{'week':10}  {'shifted':7}  {'error drift':11}  {'ratio':>5}  {'input drift':11}  psi")
    for week, error in result.error_drift.items():
        drift = result.input_drift[week]
        shifted = "yes" if date.fromisoformat(week) >= scenario.shift_week else "no"
        ratio = error.metadata.get("product_ratio", float("nan"))
        psi = drift.metadata.get("psi_log_units", float("nan"))
        print(
            f"{week:10}  {shifted:7}  {_state(error):11}  {ratio:5.2f}  {_state(drift):11}  "
            f"{psi:.3f}"
        )
        print(f"    error: {error.description}")
        print(f"    input: {drift.description}")
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if "accuracy_over_time" in metadata:
        encoded = metadata["accuracy_over_time"].value.split("base64,", 1)[1].rstrip(")")
        args.chart.write_bytes(base64.b64decode(encoded))
        print(f"\naccuracy chart of week {event.asset_materialization.partition}: {args.chart}")
        print(metadata["by_category_and_horizon"].value)


def _state(outcome) -> str:
    if outcome.passed:
        return "pass"
    return "FAIL" if outcome.failed else "warn"


if __name__ == "__main__":
    main()
