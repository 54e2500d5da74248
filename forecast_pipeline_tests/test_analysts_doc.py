"""docs/analysts.md cannot drift from the analytics views.

Every ```sql block of the page runs as the read-only role ``forecast_reader`` on a freshly
migrated warehouse, empty and with published data; every view of the schema ``analytics`` has a
section on the page whose column table lists exactly the view's columns with their types.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg

from forecast_pipeline.warehouse import (
    accuracy,
    databases,
    merge,
    promotions,
    publishing,
    uploads,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "analysts.md"
HEADING = re.compile(r"^(#{1,6}) +(.+?) *$", re.M)
SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.M | re.S)
VIEW_HEADING = re.compile(r"^`?analytics\.([a-z0-9_]+)`?$")
COLUMN_ROW = re.compile(r"^\| `([a-z0-9_]+)` \| ([^|]+?) \|", re.M)
# the spelling of information_schema's data_type on the page
TYPE_NAMES = {"timestamp with time zone": "timestamptz"}
EXAMPLES = ("Q1", "Q2", "Q3")  # the three example queries the page marks


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(position, level, title) of every heading outside code blocks."""
    fences = [m.span() for m in re.finditer(r"^```.*?^```", text, re.M | re.S)]
    return [
        (m.start(), len(m.group(1)), m.group(2))
        for m in HEADING.finditer(text)
        if not any(start <= m.start() < end for start, end in fences)
    ]


def sql_blocks(text: str) -> list[tuple[str, str]]:
    """(title of the heading above it, SQL) of every ```sql block."""
    headings = _headings(text)
    blocks = []
    for match in SQL_BLOCK.finditer(text):
        above = [title for pos, _, title in headings if pos < match.start()]
        blocks.append((above[-1] if above else "(top)", match.group(1)))
    return blocks


def view_sections(text: str) -> dict[str, str]:
    """View name -> its section (from its heading to the next heading of the same or a higher
    level) for every heading that names an ``analytics`` view."""
    headings = _headings(text)
    sections = {}
    for i, (pos, level, title) in enumerate(headings):
        match = VIEW_HEADING.match(title)
        if match is None:
            continue
        end = next((p for p, lvl, _ in headings[i + 1 :] if lvl <= level), len(text))
        assert match.group(1) not in sections, f"analytics.{match.group(1)} documented twice"
        sections[match.group(1)] = text[pos:end]
    return sections


def _reader_url(warehouse_url: str) -> str:
    return databases.with_database(warehouse_url, user=databases.READER_ROLE)


def _run_blocks(warehouse_url: str) -> tuple[dict[str, int], list[str]]:
    """Run every block as the reader: rows returned per heading, and the failures."""
    rows: dict[str, int] = {}
    failures = []
    with psycopg.connect(_reader_url(warehouse_url), autocommit=True) as conn:
        for title, query in sql_blocks(_doc()):
            try:
                rows[title] = len(conn.execute(query).fetchall())
            except psycopg.Error as error:
                failures.append(f"{title}: {type(error).__name__}: {error}".strip())
    return rows, failures


def test_the_page_has_sql_and_marks_three_example_queries() -> None:
    blocks = sql_blocks(_doc())
    assert len(blocks) >= 8
    for example in EXAMPLES:
        marked = [title for title, _ in blocks if title.startswith(f"{example}. ")]
        assert len(marked) == 1, f"{example} must head exactly one ```sql block: {marked}"


def test_every_sql_block_runs_as_the_reader_on_an_empty_warehouse(warehouse_url: str) -> None:
    rows, failures = _run_blocks(warehouse_url)
    assert not failures, "\n".join(failures)
    assert len(rows) == len(sql_blocks(_doc()))


def test_every_sql_block_runs_as_the_reader_on_published_forecasts(warehouse_url: str) -> None:
    _publish_sample(warehouse_url)
    rows, failures = _run_blocks(warehouse_url)
    assert not failures, "\n".join(failures)
    examples = {title.split(".")[0]: n for title, n in rows.items() if title.startswith("Q")}
    assert all(examples[q] > 0 for q in EXAMPLES), examples
    assert examples["Q6"] > 0, "the accuracy query scores the older run"


def test_every_view_is_documented_with_its_columns(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        views = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.views "
                "WHERE table_schema = 'analytics' ORDER BY table_name"
            )
        ]
        columns = {
            view: [
                (name, TYPE_NAMES.get(kind, kind))
                for name, kind in conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'analytics' AND table_name = %s "
                    "ORDER BY ordinal_position",
                    (view,),
                )
            ]
            for view in views
        }
    sections = view_sections(_doc())
    assert views, "the migrations create analytics views"
    assert sorted(sections) == views, "one section per analytics view, headed analytics.<view>"
    for view in views:
        documented = COLUMN_ROW.findall(sections[view])
        assert documented == columns[view], f"columns of analytics.{view} (name, type, in order)"


# --- a small published warehouse -----------------------------------------------------------

PRODUCTS = [("P1", "Lamp", "Home", 3, 20.0), ("P2", "Kite", "Toys", 5, 8.0)]
HORIZON = 12


def _publish_sample(url: str) -> None:
    """Twenty weeks of sales up to last Sunday, an older run scored on the weeks since, this
    week's run published twice (the first superseded), the promotion history and a backtest."""
    monday = date.today() - timedelta(days=date.today().weekday())
    start = monday - timedelta(weeks=20)
    days = pd.date_range(start, monday - timedelta(days=1), freq="D")
    sales = pd.DataFrame(
        [
            {
                "date": day,
                "store_id": "main",
                "product_id": pid,
                "product_name": name,
                "category": category,
                "units": units,
                "unit_price": price,
                "revenue": units * price,
                "on_promotion": False,
            }
            for day in days
            for pid, name, category, units, price in PRODUCTS
        ]
    )
    sales["line_number"] = range(2, len(sales) + 2)
    with psycopg.connect(url) as conn:
        uploads.register_upload(
            conn,
            uploads.UploadRecord(
                upload_id="sample@1",
                filename="sample.csv",
                source_uri="file:///sample.csv",
                raw_uri="file:///raw/sample.csv",
                checksum_sha256="0" * 64,
                size_bytes=1,
                received_at=datetime.now(UTC),
            ),
        )
        merge.merge_upload(conn, "sample@1", sales)
        conn.execute(
            "INSERT INTO warehouse.indicator_observations "
            "(series_id, observation_date, value, published_date, source, frequency) "
            "VALUES ('CPIAUCSL', %s, 310.0, %s, 'synthetic', 'monthly')",
            (start, start + timedelta(days=45)),
        )
        for version, decision, reason in (
            (1, "promoted", "promoted: beats the baselines"),
            (2, "kept_challenger", "kept as challenger: not 1% better than champion v1"),
        ):
            promotions.record_promotion(
                conn,
                promotions.Promotion(
                    model_name="forecast_pipeline_ensemble",
                    version=version,
                    decision=decision,
                    reason=reason,
                    decided_by="promotion_gate",
                    partition_key=str(monday - timedelta(weeks=2)),
                    metric="wape",
                    margin=0.01,
                    challenger_value=0.25,
                    baseline_model="seasonal_naive",
                    baseline_value=0.31,
                ),
            )
        metrics = [
            dict(model=model, level=level, cutoff=None, mae=1.0, rmse=1.5, wape=wape, mase=0.9,
                 bias=0.01, r2=0.5, coverage_80=cover, width_80=cover, coverage_95=cover,
                 width_95=cover)
            for model, wape, cover in (("ensemble", 0.2, 0.8), ("seasonal_naive", 0.3, None))
            for level in ("product", "category", "total")
        ]  # fmt: skip
        publishing.replace_backtest_metrics(
            conn, str(monday - timedelta(weeks=1)), pd.DataFrame(metrics), None
        )
    for week, run_id in (
        (monday - timedelta(weeks=9), "older"),
        (monday - timedelta(weeks=1), "first"),
        (monday - timedelta(weeks=1), "rerun"),
    ):
        _publish_run(url, week, run_id, start)
    with psycopg.connect(url) as conn:  # what monitoring/realised_accuracy stores every week
        for weeks_ago in range(8, 0, -1):
            week = monday - timedelta(weeks=weeks_ago)
            accuracy.replace_realised_accuracy(conn, week, accuracy.score_week(conn, week))


def _publish_run(url: str, week: date, run_id: str, data_start: date) -> None:
    origin = week + timedelta(weeks=1)
    run = publishing.ForecastRun(
        run_id=run_id,
        partition_key=str(week),
        origin=origin,
        model_name="forecast_pipeline_ensemble",
        model_version="1",
        mlflow_run_id=None,
        dagster_run_id=None,
        data_start=data_start,
        data_end=week,
        horizon_weeks=HORIZON,
        n_products=len(PRODUCTS),
    )
    with psycopg.connect(url) as conn:
        publishing.ensure_week_partition(conn, week)
    with psycopg.connect(url) as conn:
        publishing.publish_forecast_run(conn, run, _tables(origin))


def _interval(units: float) -> dict[str, float]:
    return {
        "lower_80": 0.9 * units,
        "upper_80": 1.1 * units,
        "lower_95": 0.8 * units,
        "upper_95": 1.2 * units,
    }


def _tables(origin: date) -> publishing.PublishedTables:
    """Forecasts 10% above the sales: 21 and 35 units a week, 56 in total."""
    weeks = [(step, str(origin + timedelta(weeks=step - 1))) for step in range(1, HORIZON + 1)]
    weekly = {pid: 7 * units * 1.1 for pid, _, _, units, _ in PRODUCTS}
    series = [("category", category, weekly[pid]) for pid, _, category, _, _ in PRODUCTS]
    series.append(("total", "total", sum(weekly.values())))
    windows = {"week": 1, "month": 4, "year": 52}
    outlook = []
    for level, category, units in series:
        for period, n in windows.items():
            predicted, previous = units * min(n, HORIZON), units / 1.1 * min(n, HORIZON)
            outlook.append(
                {"level": level, "category": category, "time_period": period,
                 "predicted_units": predicted, **_interval(predicted),
                 "previous_units": previous, "change_pct": 0.1, "last_year_units": None,
                 "change_vs_last_year_pct": None, "trend": "up"}
            )  # fmt: skip
    top = []
    for pid, name, category, _, price in PRODUCTS:
        for period, n in windows.items():
            predicted = weekly[pid] * min(n, HORIZON)
            top.append(
                {"category": category, "time_period": period, "rank": 1, "product_id": pid,
                 "product_name": name, "predicted_units": predicted,
                 "lower_80": 1.05 * predicted / 1.1, "upper_80": 1.2 * predicted / 1.1,
                 "previous_units": predicted / 1.1, "change_pct": 0.1, "trend": "up",
                 "unit_price": price, "predicted_revenue": predicted * price,
                 "last_year_units": None, "change_vs_last_year_pct": None,
                 "action": "stock_up", "cold_start": False}
            )  # fmt: skip
    products = [
        {"product_id": pid, "category": category, "target_week": target, "step": step,
         "units": weekly[pid], **_interval(weekly[pid]), "cold_start": False}
        for pid, _, category, _, _ in PRODUCTS
        for step, target in weeks
    ]  # fmt: skip
    categories = [
        {"level": level, "category": category, "target_week": target, "step": step,
         "units": units, **_interval(units)}
        for level, category, units in series
        for step, target in weeks
    ]  # fmt: skip
    return publishing.PublishedTables(
        product_forecasts=pd.DataFrame(products),
        top_products=pd.DataFrame(top),
        category_forecasts=pd.DataFrame(categories),
        category_outlook=pd.DataFrame(outlook),
    )
