"""The warehouse schema comes from migrations: upgrade from empty, repeatable, read-only role."""

from __future__ import annotations

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
