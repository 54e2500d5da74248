"""Realised accuracy in the warehouse: published runs scored against the sales that arrived
later, stored in forecasts.realised_accuracy and read by analysts through the analytics views
(a real Postgres database per test).

The warehouse: three products in two categories (Home: P1, P3; Toys: P2) with sales in the five
weeks W-4 .. W and one day of week W+1; run "early" (model version 1) published for week W-2,
forecasting W-1 and W; run "late" (version 2) for week W-1, forecasting W and W+1, which
superseded the week's first run "first".

Weekly units (P3 sold nothing in W-1 and W)::

    week   P1  P2  P3   Home  Toys  total
    W-4    10   5   3     13     5     18
    W-3    14   5   1     15     5     20
    W-2    12   5   2     14     5     19
    W-1    16   5   0     16     5     21
    W      20   8   0     20     8     28

MASE scales (history of at most 52 weeks: mean |y_t - y_t-1|; a flat history: its mean):
at W-2 P1 3, P2 5, P3 1.5, Home 1.5, Toys 5, total 1.5; at W-1 P1 10/3, P2 5, P3 5/3,
Home 5/3, Toys 5, total 5/3.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from forecast_pipeline.warehouse import (
    accuracy,
    databases,
    merge,
    migrate,
    promotions,
    publishing,
    uploads,
)

W = date(2026, 10, 5)  # a Monday: the target week scored
W1, W2 = W - timedelta(weeks=1), W - timedelta(weeks=2)  # the runs' forecast weeks
MODEL = "forecast_pipeline_ensemble"
PRODUCTS = {"P1": ("Lamp", "Home"), "P2": ("Kite", "Toys"), "P3": ("Vase", "Home")}
WEEKLY_UNITS = {
    "P1": [10, 14, 12, 16, 20],
    "P2": [5, 5, 5, 5, 8],
    "P3": [3, 1, 2, 0, 0],
}
NEXT_WEEK_SALE = ("P1", 100)  # sold on the Monday of W+1, a week not complete yet


def _weeks_before(n: int) -> date:
    return W - timedelta(weeks=n)


# (series, target week, step, units, lower_80, upper_80, lower_95, upper_95)
EARLY = [
    ("P1", -1, 1, 15.0, 14, 16, 12, 18),
    ("P2", -1, 1, 5.0, 4, 6, 3, 7),
    ("P3", -1, 1, 1.0, 0.5, 1.5, 0, 2),
    ("P1", 0, 2, 18.0, 17, 19, 16, 22),
    ("P2", 0, 2, 6.0, 5, 7, 4, 9),
    ("P3", 0, 2, 2.0, 1, 3, 0, 4),
    ("Home", -1, 1, 17.0, 16, 18, 15, 19),
    ("Toys", -1, 1, 5.0, 4, 6, 3, 7),
    ("total", -1, 1, 22.0, 21, 23, 20, 24),
    ("Home", 0, 2, 21.0, 19, 23, 17, 25),
    ("Toys", 0, 2, 6.0, 5, 7, 4, 9),
    ("total", 0, 2, 27.0, 25, 29, 23, 31),
]
LATE = [
    ("P1", 0, 1, 21.0, 19, 23, 17, 25),
    ("P2", 0, 1, 8.0, 7, 9, 6, 10),
    ("P3", 0, 1, 1.0, 0.5, 1.5, 0, 2),
    ("P1", 1, 2, 22.0, 20, 24, 18, 26),
    ("P2", 1, 2, 8.0, 7, 9, 6, 10),
    ("P3", 1, 2, 1.0, 0.5, 1.5, 0, 2),
    ("Home", 0, 1, 22.0, 20, 24, 18, 26),
    ("Toys", 0, 1, 8.0, 7, 9, 6, 10),
    ("total", 0, 1, 30.0, 26, 34, 24, 36),
    ("Home", 1, 2, 23.0, 21, 25, 19, 27),
    ("Toys", 1, 2, 8.0, 7, 9, 6, 10),
    ("total", 1, 2, 31.0, 27, 35, 25, 37),
]


def _superseded_forecasts() -> list[tuple]:
    """The first "late" run: far off everywhere, replaced by LATE before anything is scored."""
    return [(sid, week, step, 500.0, 400, 600, 300, 700) for sid, week, step, *_ in LATE]


# --- building the warehouse ------------------------------------------------------------------


def _sales_rows(units_by_week: dict[str, list[int]]) -> list[dict]:
    """Each week's units split between its Monday (half, rounded down) and its Sunday."""
    rows = []
    for pid, weekly in units_by_week.items():
        for i, units in enumerate(weekly):
            monday = _weeks_before(4 - i)
            for day, part in (
                (monday, units // 2),
                (monday + timedelta(days=6), units - units // 2),
            ):
                if part:
                    rows.append(_sale(day, pid, part))
    return rows


def _sale(day: date, pid: str, units: int) -> dict:
    name, category = PRODUCTS[pid]
    return {
        "date": day,
        "store_id": "main",
        "product_id": pid,
        "product_name": name,
        "category": category,
        "units": units,
        "unit_price": 2.0,
        "revenue": 2.0 * units,
        "on_promotion": False,
    }


def _merge_sales(conn: psycopg.Connection, upload_id: str, rows: list[dict]) -> None:
    uploads.register_upload(
        conn,
        uploads.UploadRecord(
            upload_id=upload_id,
            filename=f"{upload_id}.csv",
            source_uri=f"file:///{upload_id}.csv",
            raw_uri=f"file:///raw/{upload_id}.csv",
            checksum_sha256=upload_id.encode().hex().ljust(64, "0")[:64],
            size_bytes=1,
            received_at=datetime.now(UTC),
        ),
    )
    sales = pd.DataFrame(rows)
    sales["line_number"] = range(2, len(sales) + 2)
    merge.merge_upload(conn, upload_id, sales)


def _publish(
    url: str,
    week: date,
    run_id: str,
    version: str,
    rows: list[tuple],
    *,
    horizon: int = 2,
    moved: dict[str, str] | None = None,
) -> None:
    """Publish ``rows`` as run ``run_id`` of ``week``; ``moved`` overrides the categories of
    some products in the product forecasts."""
    run = publishing.ForecastRun(
        run_id=run_id,
        partition_key=str(week),
        origin=week + timedelta(weeks=1),
        model_name=MODEL,
        model_version=version,
        mlflow_run_id=None,
        dagster_run_id=None,
        data_start=_weeks_before(4),
        data_end=week,
        horizon_weeks=horizon,
        n_products=len(PRODUCTS),
    )
    products, categories = [], []
    for series_id, week_offset, step, units, lo80, hi80, lo95, hi95 in rows:
        row = {
            "target_week": W + timedelta(weeks=week_offset),
            "step": step,
            "units": units,
            "lower_80": lo80,
            "upper_80": hi80,
            "lower_95": lo95,
            "upper_95": hi95,
        }
        if series_id in PRODUCTS:
            category = (moved or {}).get(series_id, PRODUCTS[series_id][1])
            products.append(
                {"product_id": series_id, "category": category, "cold_start": False} | row
            )
        else:
            level = "total" if series_id == "total" else "category"
            categories.append({"level": level, "category": series_id} | row)
    tables = publishing.PublishedTables(
        product_forecasts=pd.DataFrame(products),
        top_products=pd.DataFrame(columns=publishing.TOP_PRODUCT_COLUMNS[1:]),
        category_forecasts=pd.DataFrame(
            categories, columns=publishing.CATEGORY_FORECAST_COLUMNS[1:]
        ),
        category_outlook=pd.DataFrame(columns=publishing.CATEGORY_OUTLOOK_COLUMNS[1:]),
    )
    with psycopg.connect(url) as conn:
        publishing.ensure_week_partition(conn, week)
    with psycopg.connect(url) as conn:
        publishing.publish_forecast_run(conn, run, tables)


def _build(url: str) -> None:
    with psycopg.connect(url) as conn:
        _merge_sales(
            conn,
            "sales@1",
            [*_sales_rows(WEEKLY_UNITS), _sale(W + timedelta(weeks=1), *NEXT_WEEK_SALE)],
        )
    _publish(url, _weeks_before(2), "early", "1", EARLY)
    _publish(url, _weeks_before(1), "first", "2", _superseded_forecasts())
    _publish(url, _weeks_before(1), "late", "2", LATE)


def _score(url: str, week: date) -> int:
    with psycopg.connect(url) as conn:
        return accuracy.replace_realised_accuracy(conn, week, accuracy.score_week(conn, week))


def _stored(url: str, week: date) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            SELECT run_id, forecast_week, model_version, level, category, horizon, n_series,
                   actual_units, forecast_units, abs_error, error, scaled_abs_error,
                   scaled_series, in_80, in_95
            FROM forecasts.realised_accuracy WHERE target_week = %s
            ORDER BY run_id, array_position(ARRAY['product', 'category', 'total'], level),
                     category
            """,
            (week,),
        ).fetchall()


def _as_reader(url: str) -> psycopg.Connection:
    return psycopg.connect(
        databases.with_database(url, user=databases.READER_ROLE), autocommit=True
    )


@pytest.fixture
def warehouse(warehouse_url: str) -> str:
    _build(warehouse_url)
    return warehouse_url


def _approx_rows(rows: list[tuple]) -> list[tuple]:
    return [tuple(pytest.approx(v) if isinstance(v, float) else v for v in row) for row in rows]


# --- scoring a week --------------------------------------------------------------------------

# what week W stores: run, forecast week, version, level, category, horizon, n_series,
# actual, forecast, |error|, error, |error|/scale, scaled series, in 80%, in 95%
STORED_W = [
    # P1 18 vs 20 (scale 3), P3 2 vs 0 (scale 1.5): both outside their 80% interval
    ("early", W2, "1", "product", "Home", 2, 2, 20.0, 20.0, 4.0, 0.0, 2 / 3 + 2 / 1.5, 2, 0, 2),
    ("early", W2, "1", "product", "Toys", 2, 1, 8.0, 6.0, 2.0, -2.0, 2 / 5, 1, 0, 1),
    ("early", W2, "1", "category", "Home", 2, 1, 20.0, 21.0, 1.0, 1.0, 1 / 1.5, 1, 1, 1),
    ("early", W2, "1", "category", "Toys", 2, 1, 8.0, 6.0, 2.0, -2.0, 2 / 5, 1, 0, 1),
    ("early", W2, "1", "total", "total", 2, 1, 28.0, 27.0, 1.0, -1.0, 1 / 1.5, 1, 1, 1),
    # P1 21 vs 20: 1 / (10/3) = 0.3; P3 1 vs 0: 1 / (5/3) = 0.6, outside its 80% interval
    ("late", W1, "2", "product", "Home", 1, 2, 20.0, 22.0, 2.0, 2.0, 0.3 + 0.6, 2, 1, 2),
    ("late", W1, "2", "product", "Toys", 1, 1, 8.0, 8.0, 0.0, 0.0, 0.0, 1, 1, 1),
    ("late", W1, "2", "category", "Home", 1, 1, 20.0, 22.0, 2.0, 2.0, 1.2, 1, 1, 1),
    ("late", W1, "2", "category", "Toys", 1, 1, 8.0, 8.0, 0.0, 0.0, 0.0, 1, 1, 1),
    ("late", W1, "2", "total", "total", 1, 1, 28.0, 30.0, 2.0, 2.0, 1.2, 1, 1, 1),
]


def test_scoring_a_complete_week_stores_every_run_level_and_category(warehouse: str) -> None:
    assert _score(warehouse, W) == 10
    assert _stored(warehouse, W) == _approx_rows(STORED_W)


def test_a_product_without_sales_in_the_week_counts_as_zero_units(warehouse: str) -> None:
    with psycopg.connect(warehouse) as conn:
        scored = accuracy.score_week(conn, W)
    early_home = scored.query("run_id == 'early' and level == 'product' and category == 'Home'")
    # P1 sold 20 and P3 nothing: P3's forecast of 2 is an error of 2 against 0 units
    assert early_home[["actual_units", "abs_error"]].values.tolist() == [[20.0, 4.0]]


def test_product_forecasts_of_a_category_without_category_forecasts_are_scored(
    warehouse: str,
) -> None:
    # a run of W-3 forecast P2 three weeks ahead under a category nothing else has (say the
    # product was in Garden then): no category forecast, no product of the warehouse in it
    _publish(
        warehouse,
        _weeks_before(3),
        "older",
        "1",
        [("P2", 0, 3, 7.0, 6, 8, 5, 9)],
        horizon=3,
        moved={"P2": "Garden"},
    )
    assert _score(warehouse, W) == 11
    # P2 sold 8 against 7; its scale at W-3 (5, 5: a flat history) is its mean, 5
    assert [row for row in _stored(warehouse, W) if row[0] == "older"] == _approx_rows(
        [
            (
                "older",
                _weeks_before(3),
                "1",
                "product",
                "Garden",
                3,
                1,
                8.0,
                7.0,
                1.0,
                -1.0,
                0.2,
                1,
                1,
                1,
            )
        ]
    )


def test_a_superseded_run_is_not_scored(warehouse: str) -> None:
    _score(warehouse, W)
    with psycopg.connect(warehouse) as conn:
        runs = conn.execute(
            "SELECT DISTINCT run_id FROM forecasts.realised_accuracy ORDER BY run_id"
        ).fetchall()
        status = conn.execute(
            "SELECT status FROM forecasts.forecast_runs WHERE run_id = 'first'"
        ).fetchone()
    assert runs == [("early",), ("late",)]
    assert status == ("superseded",)


def test_a_week_nobody_forecast_scores_nothing(warehouse: str) -> None:
    # runs forecast only weeks after their own: nothing published before W-2 forecast W-2
    assert _score(warehouse, _weeks_before(2)) == 0
    assert _stored(warehouse, _weeks_before(2)) == []


def test_rescoring_a_week_replaces_its_rows(warehouse: str) -> None:
    _score(warehouse, W)
    with psycopg.connect(warehouse) as conn:  # late sales: P2 sold 2 more units on Wednesday
        _merge_sales(conn, "sales@2", [_sale(W + timedelta(days=2), "P2", 2)])
    assert _score(warehouse, W) == 10
    stored = _stored(warehouse, W)
    assert len(stored) == 10
    late_toys = [
        row for row in stored if row[0] == "late" and row[3] == "product" and row[4] == "Toys"
    ]
    # P2 now sold 10 against a forecast of 8 (80% interval 7-9: outside)
    assert late_toys == _approx_rows(
        [("late", W1, "2", "product", "Toys", 1, 1, 10.0, 8.0, 2.0, -2.0, 2 / 5, 1, 0, 1)]
    )


# --- what analysts read ----------------------------------------------------------------------


def test_the_reader_sees_wape_bias_mase_and_coverage_per_run_and_week(warehouse: str) -> None:
    _score(warehouse, W)
    with _as_reader(warehouse) as conn:
        rows = conn.execute(
            """
            SELECT run_id, target_week, forecast_week, horizon, model_version, level, category,
                   wape, bias, mase, coverage_80, coverage_95, n_series
            FROM analytics.realised_accuracy
            WHERE level = 'product' ORDER BY run_id, category
            """
        ).fetchall()
    assert rows == _approx_rows(
        [
            ("early", W, W2, 2, "1", "product", "Home", 4 / 20, 0.0, 2.0 / 2, 0.0, 1.0, 2),
            ("early", W, W2, 2, "1", "product", "Toys", 2 / 8, -2 / 8, 0.4, 0.0, 1.0, 1),
            ("late", W, W1, 1, "2", "product", "Home", 2 / 20, 2 / 20, 0.9 / 2, 0.5, 1.0, 2),
            ("late", W, W1, 1, "2", "product", "Toys", 0.0, 0.0, 0.0, 1.0, 1.0, 1),
        ]
    )


def test_forecast_accuracy_pools_the_target_weeks_scored_so_far(warehouse: str) -> None:
    _score(warehouse, W1)  # only "early" forecast W-1
    _score(warehouse, W)
    with _as_reader(warehouse) as conn:
        rows = conn.execute(
            """
            SELECT forecast_week, model_version, level, category, weeks_scored,
                   first_target_week, last_target_week, wape, bias, mase,
                   coverage_80, coverage_95, forecast_units, actual_units
            FROM analytics.forecast_accuracy
            ORDER BY forecast_week, array_position(ARRAY['product', 'category', 'total'], level),
                     category
            """
        ).fetchall()
    # early at W-1: P1 15 vs 16, P2 5 vs 5, P3 1 vs 0; Home 17 vs 16; total 22 vs 21
    assert rows == _approx_rows(
        [
            # Home products: |error| 2 + 4 over 16 + 20 units (the mean of the weekly WAPEs,
            # (2/16 + 4/20) / 2, would be 0.1625); MASE (1/3 + 1/1.5 + 2.0) / 4
            (W2, "1", "product", "Home", 2, W1, W, 6 / 36, 0.0, 3.0 / 4, 1 / 4, 1.0, 36.0, 36.0),
            (W2, "1", "product", "Toys", 2, W1, W, 2 / 13, -2 / 13, 0.4 / 2, 0.5, 1.0, 11.0, 13.0),
            (W2, "1", "category", "Home", 2, W1, W, 2 / 36, 2 / 36, 2 / 3, 1.0, 1.0, 38.0, 36.0),
            (W2, "1", "category", "Toys", 2, W1, W, 2 / 13, -2 / 13, 0.2, 0.5, 1.0, 11.0, 13.0),
            (W2, "1", "total", "total", 2, W1, W, 2 / 49, 0.0, 2 / 3, 1.0, 1.0, 49.0, 49.0),
            (W1, "2", "product", "Home", 1, W, W, 0.1, 0.1, 0.45, 0.5, 1.0, 22.0, 20.0),
            (W1, "2", "product", "Toys", 1, W, W, 0.0, 0.0, 0.0, 1.0, 1.0, 8.0, 8.0),
            (W1, "2", "category", "Home", 1, W, W, 0.1, 0.1, 1.2, 1.0, 1.0, 22.0, 20.0),
            (W1, "2", "category", "Toys", 1, W, W, 0.0, 0.0, 0.0, 1.0, 1.0, 8.0, 8.0),
            (W1, "2", "total", "total", 1, W, W, 2 / 28, 2 / 28, 1.2, 1.0, 1.0, 30.0, 28.0),
        ]
    )


def test_the_reader_cannot_read_the_stored_components(warehouse: str) -> None:
    with (
        _as_reader(warehouse) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT count(*) FROM forecasts.realised_accuracy")


def test_load_realised_accuracy_reads_the_last_weeks_up_to_a_week(warehouse: str) -> None:
    _score(warehouse, W1)
    _score(warehouse, W)
    with psycopg.connect(warehouse) as conn:
        everything = accuracy.load_realised_accuracy(conn, W)
        last_week = accuracy.load_realised_accuracy(conn, W, weeks=1)
        until_w1 = accuracy.load_realised_accuracy(conn, W1)
    assert everything["target_week"].value_counts().to_dict() == {
        pd.Timestamp(W): 10,
        pd.Timestamp(W1): 5,
    }
    assert set(last_week["target_week"]) == {pd.Timestamp(W)}
    assert set(until_w1["run_id"]) == {"early"}
    assert len(until_w1) == 5


# --- what the error-drift check reads --------------------------------------------------------


def test_last_complete_week_is_the_monday_of_the_last_week_with_its_sunday(warehouse: str) -> None:
    # sales reach the Monday of W+1, so the last complete week is W
    with psycopg.connect(warehouse) as conn:
        assert accuracy.last_complete_week(conn) == W
        conn.execute("DELETE FROM warehouse.sales_history WHERE sale_date > %s", (W,))
        # now the last sale is W's Monday: W is not complete, W-1 is
        assert accuracy.last_complete_week(conn) == W1


def test_last_complete_week_of_an_empty_history_is_none(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        assert accuracy.last_complete_week(conn) is None


def test_latest_published_model_is_the_newest_run_before_the_week(warehouse: str) -> None:
    with psycopg.connect(warehouse) as conn:
        assert accuracy.latest_published_model(conn, W) == (MODEL, "2")
        assert accuracy.latest_published_model(conn, W1) == (MODEL, "1")
        assert accuracy.latest_published_model(conn, W2) is None


def _promote(url: str, version: int, decision: str, partition_key: str) -> None:
    with psycopg.connect(url) as conn:  # one transaction per decision: distinct decided_at
        promotions.record_promotion(
            conn,
            promotions.Promotion(
                model_name=MODEL,
                version=version,
                decision=decision,
                reason=decision,
                decided_by="promotion_gate",
                partition_key=partition_key,
            ),
        )


def _backtest(url: str, partition_key: str, rows: list[tuple]) -> None:
    metrics = pd.DataFrame(
        [
            {"model": model, "level": level, "cutoff": cutoff, "mae": 1.0, "rmse": 1.0,
             "wape": wape, "mase": 1.0, "bias": 0.0, "r2": 0.5, "coverage_80": None,
             "width_80": None, "coverage_95": None, "width_95": None}
            for model, level, cutoff, wape in rows
        ]
    )  # fmt: skip
    with psycopg.connect(url) as conn:
        publishing.replace_backtest_metrics(conn, partition_key, metrics, None)


def test_backtest_window_wapes_are_the_ensembles_cutoffs_of_the_training_week(
    warehouse_url: str,
) -> None:
    trained, later = "2026-08-31", "2026-09-28"
    _promote(warehouse_url, 2, "promoted", trained)
    _promote(warehouse_url, 2, "rolled_back", later)  # a later decision on the same version
    _promote(warehouse_url, 3, "kept_challenger", later)
    c1, c2 = date(2026, 7, 6), date(2026, 8, 3)
    _backtest(
        warehouse_url,
        trained,
        [
            ("ensemble", "product", c1, 0.31),
            ("ensemble", "product", c2, 0.27),
            ("ensemble", "total", c2, 0.12),
            ("ensemble", "total", c1, 0.10),
            ("ensemble", "product", None, 0.29),  # all windows: not a window
            ("seasonal_naive", "product", c1, 0.50),
        ],
    )
    _backtest(warehouse_url, later, [("ensemble", "product", c1, 0.90)])
    with psycopg.connect(warehouse_url) as conn:
        week, windows = accuracy.backtest_window_wapes(conn, MODEL, 2)
        missing = accuracy.backtest_window_wapes(conn, MODEL, 7)
    assert week == trained
    assert windows.values.tolist() == [
        ["product", c1, 0.31],
        ["product", c2, 0.27],
        ["total", c1, 0.10],
        ["total", c2, 0.12],
    ]
    assert missing[0] is None
    assert missing[1].empty
    assert list(missing[1].columns) == ["level", "cutoff", "wape"]


# --- migration -------------------------------------------------------------------------------


def _relations(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {
            row[0]
            for row in conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema IN ('forecasts', 'analytics')"
            )
        }


def test_migration_0007_downgrades_to_0006_and_upgrades_again(make_database) -> None:
    url = make_database()
    assert migrate.upgrade(url, "0007") == "0007"
    assert migrate.downgrade(url, "0006") == "0006"
    relations = _relations(url)
    assert "forecasts.realised_accuracy" not in relations
    assert "analytics.realised_accuracy" not in relations
    with _as_reader(url) as conn:  # the query-time view of 0005/0006 is back
        columns = [
            d.name
            for d in conn.execute("SELECT * FROM analytics.forecast_accuracy LIMIT 0").description
        ]
    assert "level" not in columns
    assert migrate.upgrade(url, "0007") == "0007"
    assert {"forecasts.realised_accuracy", "analytics.realised_accuracy"} <= _relations(url)
    with _as_reader(url) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.realised_accuracy").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM analytics.forecast_accuracy").fetchone() == (0,)
