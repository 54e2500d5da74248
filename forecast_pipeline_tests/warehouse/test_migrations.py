"""The warehouse schema comes from migrations: upgrade from empty, repeatable, read-only role."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from forecast_pipeline.warehouse import databases, migrate


def test_upgrade_from_empty_is_repeatable(make_database) -> None:
    url = make_database()
    assert migrate.current_revision(url) is None
    assert migrate.upgrade(url) == migrate.head_revision()
    assert migrate.upgrade(url) == migrate.head_revision()
    with psycopg.connect(url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema IN ('warehouse', 'forecasts', 'analytics')"
            )
        }
    assert {
        "warehouse.uploads",
        "warehouse.upload_rejections",
        "warehouse.sales_history",
        "warehouse.products",
        "forecasts.forecast_runs",
        "forecasts.top_products",
        "analytics.top_products",
        "analytics.product_forecasts",
    } <= tables


def test_downgrade_to_empty_and_back(make_database) -> None:
    url = make_database()
    migrate.upgrade(url)
    assert migrate.downgrade(url, "base") is None
    with psycopg.connect(url) as conn:
        schemas = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('warehouse', 'analytics')"
        ).fetchone()
    assert schemas == (0,)
    assert migrate.upgrade(url) == migrate.head_revision()


def test_reader_role_reads_analytics_only(warehouse_url: str) -> None:
    reader_url = databases.with_database(warehouse_url, user="forecast_reader")
    with psycopg.connect(reader_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.top_products").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM warehouse.sales_history")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM forecasts.top_products")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE analytics.scratch (x int)")


def test_published_forecasts_survive_the_move_to_partitions_and_back(make_database) -> None:
    """0005 moves product forecasts into weekly partitions; its downgrade moves them back."""
    url = make_database()
    migrate.upgrade(url, "0004")
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO forecasts.forecast_runs (run_id, partition_key, origin, model_name, "
            "model_version, data_start, data_end, horizon_weeks, n_products) VALUES "
            "('r1', '2026-11-09', '2026-11-16', 'm', '1', '2024-01-01', '2026-11-09', 2, 2)"
        )
        conn.execute(
            "INSERT INTO forecasts.product_forecasts (run_id, product_id, category, target_week, "
            "step, units, lower_80, upper_80, lower_95, upper_95) "
            "SELECT 'r1', p, 'c', '2026-11-09'::date + 7 * s, s, 1, 0, 2, 0, 3 "
            "FROM unnest(ARRAY['a', 'b']) p, generate_series(1, 2) s"
        )
    assert migrate.upgrade(url) == migrate.head_revision()
    with psycopg.connect(url) as conn:
        moved = conn.execute(
            "SELECT tableoid::regclass::text, forecast_week, count(*) "
            "FROM forecasts.product_forecasts GROUP BY 1, 2"
        ).fetchall()
        run = conn.execute(
            "SELECT forecast_week, status FROM forecasts.forecast_runs WHERE run_id = 'r1'"
        ).fetchone()
    assert moved == [("forecasts.product_forecasts_w20261109", date(2026, 11, 9), 4)]
    assert run == (date(2026, 11, 9), "published")
    assert migrate.downgrade(url, "0004") == "0004"
    with psycopg.connect(url) as conn:
        back = conn.execute("SELECT count(*) FROM forecasts.product_forecasts").fetchone()
    assert back == (4,)
