"""Realistic published runs for the publishing tests, and a publisher to run in its own process.

``python -m forecast_pipeline_tests.warehouse.publisher_process URL RUN_ID WEEK PRODUCTS WEEKS
MODEL_VERSION`` builds a run of PRODUCTS x WEEKS product forecasts, creates the week's partition
(own transaction), writes ``publishing backend_pid=<pid>`` to stdout, publishes and commits, then
writes ``published``. The kill test stops it with SIGKILL while its COPY is running.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg

from forecast_pipeline.warehouse.publishing import (
    CATEGORY_FORECAST_COLUMNS,
    CATEGORY_OUTLOOK_COLUMNS,
    TOP_PRODUCT_COLUMNS,
    ForecastRun,
    PublishedTables,
    ensure_week_partition,
    publish_forecast_run,
)

CATEGORIES = ["beverages", "dairy", "household", "snacks"]
PERIODS = {"week": 1, "month": 4, "year": 52}
TOP_N = 5


def forecast_run(
    run_id: str, week: date, *, products: int, weeks: int, model_version: str = "1"
) -> ForecastRun:
    """The run of ``week`` (a Monday) as the publishing asset records it."""
    return ForecastRun(
        run_id=run_id,
        partition_key=week.isoformat(),
        origin=week - timedelta(days=1),
        model_name="sales_forecaster",
        model_version=model_version,
        mlflow_run_id=f"mlflow-{run_id}",
        dagster_run_id=f"dagster-{run_id}",
        data_start=week - timedelta(weeks=156),
        data_end=week - timedelta(days=1),
        horizon_weeks=weeks,
        n_products=products,
    )


def _intervals(units: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "units": units,
        "lower_80": units * 0.8,
        "upper_80": units * 1.2,
        "lower_95": units * 0.6,
        "upper_95": units * 1.4,
    }


def published_tables(week: date, *, products: int, weeks: int, seed: int = 0) -> PublishedTables:
    """``products`` x ``weeks`` product forecasts and the category tables derived from them."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:07d}" for i in range(products)], dtype=object)
    categories = np.array(CATEGORIES, dtype=object)[np.arange(products) % len(CATEGORIES)]
    steps = np.tile(np.arange(1, weeks + 1, dtype=np.int32), products)
    base = rng.gamma(2.0, 20.0, products)
    units = np.repeat(base, weeks) * (1 + 0.1 * np.sin(steps / 4))
    cold = np.arange(products) % 10 == 9
    product_forecasts = pd.DataFrame(
        {
            "product_id": np.repeat(ids, weeks),
            "category": np.repeat(categories, weeks),
            "target_week": pd.Timestamp(week) + pd.to_timedelta(7 * steps, unit="D"),
            "step": steps,
            **_intervals(units),
            "cold_start": np.repeat(cold, weeks),
        }
    )

    by_category = product_forecasts.groupby(["category", "target_week", "step"], as_index=False)[
        "units"
    ].sum()
    total = by_category.groupby(["target_week", "step"], as_index=False)["units"].sum()
    levels = pd.concat(
        [by_category.assign(level="category"), total.assign(level="total", category="total")],
        ignore_index=True,
    )
    category_forecasts = levels.assign(**_intervals(levels["units"].to_numpy()))

    outlook_rows = []
    for (level, category), group in levels.groupby(["level", "category"]):
        for period, span in PERIODS.items():
            predicted = float(group.loc[group["step"] <= span, "units"].sum())
            previous = predicted * 0.95
            outlook_rows.append(
                {
                    "level": level,
                    "category": category,
                    "time_period": period,
                    **{k: float(v) for k, v in _intervals(np.array(predicted)).items()},
                    "previous_units": previous,
                    "change_pct": (predicted - previous) / previous * 100,
                    "last_year_units": predicted * 0.9 if period != "year" else None,
                    "change_vs_last_year_pct": 11.1 if period != "year" else None,
                    "trend": "up",
                }
            )
    category_outlook = pd.DataFrame(outlook_rows).rename(columns={"units": "predicted_units"})

    top_rows = []
    for category in CATEGORIES:
        members = np.flatnonzero(categories == category)
        ranked = members[np.argsort(-base[members], kind="stable")][:TOP_N]
        for period, span in PERIODS.items():
            for rank, index in enumerate(ranked, start=1):
                predicted = float(base[index] * min(span, weeks))
                top_rows.append(
                    {
                        "category": category,
                        "time_period": period,
                        "rank": rank,
                        "product_id": ids[index],
                        "product_name": f"Product {ids[index]}",
                        "predicted_units": predicted,
                        "lower_80": predicted * 0.8,
                        "upper_80": predicted * 1.2,
                        "previous_units": predicted * 1.1,
                        "change_pct": -9.1,
                        "trend": "down",
                        "unit_price": 2.5,
                        "predicted_revenue": predicted * 2.5,
                        "last_year_units": None,
                        "change_vs_last_year_pct": None,
                        "action": "reduce",
                        "cold_start": bool(cold[index]),
                    }
                )
    top_products = pd.DataFrame(top_rows)

    tables = PublishedTables(
        product_forecasts=product_forecasts,
        top_products=top_products,
        category_forecasts=category_forecasts,
        category_outlook=category_outlook,
    )
    # the frames carry exactly the table columns the publisher copies (minus run_id)
    assert set(TOP_PRODUCT_COLUMNS) - set(top_products.columns) == {"run_id"}
    assert set(CATEGORY_FORECAST_COLUMNS) - set(category_forecasts.columns) == {"run_id"}
    assert set(CATEGORY_OUTLOOK_COLUMNS) - set(category_outlook.columns) == {"run_id"}
    return tables


def main(argv: list[str]) -> None:
    url, run_id, week_text, products, weeks, model_version = argv
    week = date.fromisoformat(week_text)
    run = forecast_run(
        run_id, week, products=int(products), weeks=int(weeks), model_version=model_version
    )
    tables = published_tables(week, products=int(products), weeks=int(weeks), seed=1)
    with psycopg.connect(url) as conn:
        ensure_week_partition(conn, week)
        conn.commit()
        sys.stdout.write(f"publishing backend_pid={conn.info.backend_pid}\n")
        sys.stdout.flush()
        publish_forecast_run(conn, run, tables)
        conn.commit()
    sys.stdout.write("published\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
