"""Wall time of the demo pipeline per stage and per asset step (install excluded).

Runs `run_demo` on a fresh home folder (a temporary one unless --home is given), against the
server in FORECAST_POSTGRES_URL or an embedded one, then reads Dagster's step statistics for
the runs it made. Usage:

    .venv/bin/python benchmarks/demo_pipeline.py [--products 300] [--stores 2] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import dagster as dg

from forecast_pipeline.demo import run_demo
from forecast_pipeline.sample import SampleConfig
from forecast_pipeline.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--stores", type=int, default=2)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="forecast_bench_"))
    os.environ["FORECAST_HOME"] = str(home)
    if os.environ.get("FORECAST_POSTGRES_URL"):
        suffix = f"bench_{int(time.time())}"
        for name in ("WAREHOUSE", "DAGSTER", "MLFLOW"):
            os.environ[f"FORECAST_{name}_DB"] = f"forecast_{name.lower()}_{suffix}"
    settings = load_settings()
    sample = SampleConfig(n_products=args.products, n_stores=args.stores)

    started = time.perf_counter()
    report = run_demo(settings, sample)
    total = time.perf_counter() - started

    print(f"home: {home}")
    print(f"sample: {args.products} products, {args.stores} stores, {report.sample_files} files")
    print(f"rows in warehouse.sales_history: {report.row_counts['warehouse.sales_history']:,}")
    print("\nstage                                               seconds")
    for stage, seconds in report.stage_seconds.items():
        print(f"{stage:50s} {seconds:8.2f}")
    print(f"{'total':50s} {total:8.2f}")

    per_step: dict[str, float] = defaultdict(float)
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            for step in instance.get_run_step_stats(run.run_id):
                if step.end_time and step.start_time:
                    per_step[step.step_key] += step.end_time - step.start_time
    print("\nasset step (summed over runs)                       seconds")
    for step, seconds in sorted(per_step.items(), key=lambda item: -item[1]):
        print(f"{step:50s} {seconds:8.2f}")


if __name__ == "__main__":
    main()
