"""Every endpoint against a real warehouse holding a published sample run: the values, the
paging, the filters, the errors, the cache headers and revalidation, the validation of the
parameters, and CORS."""

from __future__ import annotations

import datetime as dt
import re

import psycopg
import pytest
from fastapi.testclient import TestClient

from forecast_pipeline_tests.api.sample import (
    BACKTEST,
    CATEGORIES,
    HISTORY_WEEKS,
    MODEL_NAME,
    N_PRODUCTS,
    PROMOTION_REASON,
    TRAINING_WEEK,
    Warehouse,
)
from forecast_pipeline_tests.api.serving import serve

V1 = "/api/v1"


def _published_at(body: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(body["published_at"])


def _assert_run(body: dict, published: Warehouse) -> None:
    """The envelope names the published run."""
    for field, value in published.run.envelope().items():
        assert body[field] == value, field
    assert _published_at(body) == published.run.published_at


# --- health -------------------------------------------------------------------------------


def test_health_is_open_and_reports_the_database_and_the_served_run(
    client: TestClient, published: Warehouse
) -> None:
    response = client.get(f"{V1}/health")  # no key

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    latest = body["latest_run"]
    assert latest["run_id"] == published.run.run_id
    assert latest["forecast_week"] == published.run.run.partition_key
    assert dt.datetime.fromisoformat(latest["published_at"]) == published.run.published_at
    age = (dt.datetime.now(dt.UTC) - published.run.published_at).total_seconds() / 3600
    assert 0 <= latest["age_hours"] <= age + 0.01
    assert latest["age_hours"] >= age - 0.01


# --- top products -------------------------------------------------------------------------


@pytest.mark.parametrize("time_period", ["week", "month", "year"])
def test_top_products_per_period_are_the_published_ranks(
    client: TestClient, published: Warehouse, auth: dict, time_period: str
) -> None:
    response = client.get(
        f"{V1}/forecast/top-products", params={"time_period": time_period}, headers=auth
    )

    assert response.status_code == 200
    body = response.json()
    _assert_run(body, published)
    assert body["time_period"] == time_period
    expected = published.run.top(time_period)  # ranks 1..10 of every category
    assert body["data"] == expected
    assert body["count"] == len(expected) == 30
    assert body["total"] == N_PRODUCTS  # every ranked product of the period
    assert (body["limit"], body["offset"]) == (10, 0)
    # one product's figures as written: the rank-1 beverage's units over the window
    first = body["data"][0]
    assert (first["category"], first["rank"]) == ("beverages", 1)
    assert (
        first["predicted_units"]
        == published.run.top(time_period, "beverages", 1)[0]["predicted_units"]
    )


def test_top_products_default_to_the_next_week(
    client: TestClient, published: Warehouse, auth: dict
) -> None:
    body = client.get(f"{V1}/forecast/top-products", headers=auth).json()

    assert body["time_period"] == "week"
    assert body["data"] == published.run.top("week")


def test_top_products_of_one_category(client: TestClient, published: Warehouse, auth: dict) -> None:
    response = client.get(
        f"{V1}/forecast/top-products",
        params={"time_period": "month", "category": "dairy", "limit": 100},
        headers=auth,
    )

    assert response.status_code == 200
    body = response.json()
    dairy = [p for p in published.products if p.category == "dairy"]
    assert body["total"] == body["count"] == len(dairy) == 13
    assert [row["rank"] for row in body["data"]] == list(range(1, 14))
    assert {row["category"] for row in body["data"]} == {"dairy"}
    heaviest = max(dairy, key=lambda p: p.weight)
    assert body["data"][0]["product_id"] == heaviest.product_id
    assert body["data"] == published.run.top("month", "dairy", limit=100)


def test_top_products_page_through_the_ranks_of_each_category(
    client: TestClient, published: Warehouse, auth: dict
) -> None:
    response = client.get(
        f"{V1}/forecast/top-products",
        params={"time_period": "year", "limit": 2, "offset": 3},
        headers=auth,
    )

    body = response.json()
    assert [(row["category"], row["rank"]) for row in body["data"]] == [
        (category, rank) for category in CATEGORIES for rank in (4, 5)
    ]
    assert body["data"] == published.run.top("year", limit=2, offset=3)
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (6, 40, 2, 3)

    # past the last rank of a category: an empty page, the total still told
    beyond = client.get(
        f"{V1}/forecast/top-products",
        params={"category": "snacks", "offset": 13},
        headers=auth,
    ).json()
    assert (beyond["data"], beyond["count"], beyond["total"]) == ([], 0, 13)


def test_top_products_of_an_unknown_category_are_404(client: TestClient, auth: dict) -> None:
    response = client.get(
        f"{V1}/forecast/top-products", params={"category": "garden"}, headers=auth
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "unknown category: 'garden'"}


# --- categories ---------------------------------------------------------------------------


def test_categories_outlook_with_the_total(
    client: TestClient, published: Warehouse, auth: dict
) -> None:
    response = client.get(f"{V1}/forecast/categories", headers=auth)  # default: month

    assert response.status_code == 200
    body = response.json()
    _assert_run(body, published)
    assert body["time_period"] == "month"
    assert body["data"] == [published.run.outlook("month", c) for c in CATEGORIES]
    assert body["total_outlook"] == published.run.outlook("month", "total")
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (3, 3, 50, 0)
    # the total is the sum of the categories (as published)
    assert body["total_outlook"]["predicted_units"] == pytest.approx(
        sum(row["predicted_units"] for row in body["data"])
    )


def test_categories_page(client: TestClient, published: Warehouse, auth: dict) -> None:
    body = client.get(
        f"{V1}/forecast/categories",
        params={"time_period": "year", "limit": 1, "offset": 1},
        headers=auth,
    ).json()

    assert body["data"] == [published.run.outlook("year", "dairy")]
    assert body["data"][0]["last_year_units"] is None  # no year-ago figures for a year
    assert (body["count"], body["total"], body["limit"], body["offset"]) == (1, 3, 1, 1)
    assert body["total_outlook"] == published.run.outlook("year", "total")


# --- trends -------------------------------------------------------------------------------


def test_trends_of_a_category_default_to_12_weeks(
    client: TestClient, published: Warehouse, auth: dict
) -> None:
    response = client.get(f"{V1}/forecast/trends/beverages", headers=auth)

    assert response.status_code == 200
    body = response.json()
    _assert_run(body, published)
    assert (body["category"], body["weeks"]) == ("beverages", 12)
    history = published.run.history("beverages")
    assert len(history) == HISTORY_WEEKS
    assert body["history"] == history[-12:]  # the last 12 weeks, oldest first
    assert body["history"][-1]["week"] == published.run.run.partition_key
    forecast = body["forecast"]
    assert forecast == published.run.forecast("beverages")[:12]
    assert [point["step"] for point in forecast] == list(range(1, 13))
    assert forecast[0]["week"] == published.run.run.origin.isoformat()
    for point in forecast:
        assert point["lower_95"] < point["lower_80"] < point["units"] < point["upper_80"]
        assert point["upper_80"] < point["upper_95"]


@pytest.mark.parametrize(
    ("params", "weeks"),
    [
        ({"weeks": 4}, 4),
        ({"days": 7}, 1),
        ({"days": 10}, 2),  # rounded up to whole weeks
        ({"days": 14}, 2),
        ({"days": 364}, 52),
    ],
)
def test_trends_span_in_weeks_or_days(
    client: TestClient, published: Warehouse, auth: dict, params: dict, weeks: int
) -> None:
    body = client.get(f"{V1}/forecast/trends/snacks", params=params, headers=auth).json()

    assert body["weeks"] == weeks
    assert body["history"] == published.run.history("snacks")[-weeks:]  # at most 26 weeks
    assert body["forecast"] == published.run.forecast("snacks")[:weeks]
    assert len(body["forecast"]) == weeks


def test_trends_of_the_whole_business(client: TestClient, published: Warehouse, auth: dict) -> None:
    body = client.get(f"{V1}/forecast/trends/total", params={"weeks": 52}, headers=auth).json()

    assert body["category"] == "total"
    assert body["history"] == published.run.history("total")  # all 26 weeks
    assert body["forecast"] == published.run.forecast("total")  # all 52 steps
    by_week = {point["week"]: point["units"] for point in body["history"]}
    for category in CATEGORIES:  # the total is the categories' sum
        for point in published.run.history(category):
            by_week[point["week"]] -= point["units"]
    assert all(value == pytest.approx(0) for value in by_week.values())


def test_trends_with_weeks_and_days_are_422(client: TestClient, auth: dict) -> None:
    response = client.get(
        f"{V1}/forecast/trends/dairy", params={"weeks": 2, "days": 14}, headers=auth
    )

    assert response.status_code == 422
    assert response.json()["detail"] == "give either weeks or days, not both"


def test_trends_of_an_unknown_category_are_404(client: TestClient, auth: dict) -> None:
    response = client.get(f"{V1}/forecast/trends/garden", headers=auth)

    assert response.status_code == 404
    assert response.json() == {"detail": "unknown category: 'garden'"}


# --- model info ---------------------------------------------------------------------------


def test_model_info_names_the_champion_its_promotion_and_backtest(
    client: TestClient, published: Warehouse, auth: dict
) -> None:
    response = client.get(f"{V1}/forecast/model-info", headers=auth)

    assert response.status_code == 200
    body = response.json()
    _assert_run(body, published)
    run = published.run.run
    assert body["model_name"] == MODEL_NAME
    assert body["model_version"] == "1"
    assert body["mlflow_run_id"] == run.mlflow_run_id
    assert body["training_week"] == TRAINING_WEEK.isoformat()
    assert body["history_start"] == run.data_start.isoformat()
    assert body["history_end"] == run.data_end.isoformat()
    assert dt.datetime.fromisoformat(body["promoted_at"]) == published.promoted_at
    assert body["promotion_reason"] == PROMOTION_REASON
    # the ensemble over all windows of the training week, per level (not per cutoff, not
    # the baseline, not the newer week's figures)
    assert body["backtest"] == [{"level": level, **figures} for level, figures in BACKTEST.items()]


# --- data ---------------------------------------------------------------------------------


def test_data_categories_list_the_catalogue(
    client: TestClient, published: Warehouse, auth: dict
) -> None:
    response = client.get(f"{V1}/data/categories", headers=auth)

    assert response.status_code == 200
    body = response.json()
    expected = []
    for category in CATEGORIES:
        members = [p for p in published.products if p.category == category]
        expected.append(
            {
                "category": category,
                "products": len(members),
                "first_sale_date": min(p.first_sale_date for p in members).isoformat(),
                "last_sale_date": max(p.last_sale_date for p in members).isoformat(),
            }
        )
    assert body == {"count": 3, "total": 3, "limit": 100, "offset": 0, "data": expected}
    assert [row["products"] for row in body["data"]] == [14, 13, 13]
    # not tied to a run: not cached, no run header
    assert "etag" not in response.headers
    assert "x-forecast-run" not in response.headers


def test_data_categories_page(client: TestClient, auth: dict) -> None:
    page = client.get(
        f"{V1}/data/categories", params={"limit": 1, "offset": 2}, headers=auth
    ).json()
    assert [row["category"] for row in page["data"]] == ["snacks"]
    assert (page["count"], page["total"]) == (1, 3)

    beyond = client.get(f"{V1}/data/categories", params={"offset": 5}, headers=auth).json()
    assert (beyond["data"], beyond["count"], beyond["total"]) == ([], 0, 3)


def test_data_statistics(client: TestClient, published: Warehouse, auth: dict) -> None:
    response = client.get(f"{V1}/data/statistics", headers=auth)

    assert response.status_code == 200
    body = response.json()
    with psycopg.connect(published.url) as conn:
        today, fetched_at = conn.execute(
            "SELECT current_date, max(fetched_at) FROM warehouse.indicator_observations"
        ).fetchone()
    assert body["products"] == N_PRODUCTS
    assert body["categories"] == 3
    assert body["first_sale_date"] == min(p.first_sale_date for p in published.products).isoformat()
    assert body["last_sale_date"] == published.last_sale_date.isoformat()
    latest = body["latest_run"]
    assert {k: latest[k] for k in published.run.envelope()} == published.run.envelope()
    assert dt.datetime.fromisoformat(latest["published_at"]) == published.run.published_at

    sources = {source.pop("source"): source for source in body["sources"]}
    assert list(sources) == ["forecasts", "indicator:CPIAUCSL", "sales"]
    week = published.run.run.forecast_week
    assert sources["forecasts"]["frequency"] == "weekly"
    assert sources["forecasts"]["latest_data_date"] == week.isoformat()
    assert sources["forecasts"]["age_days"] == (today - week).days
    loaded = dt.datetime.fromisoformat(sources["forecasts"]["last_loaded_at"])
    assert loaded == published.run.published_at
    indicator = sources["indicator:CPIAUCSL"]
    assert indicator["frequency"] == "monthly"
    assert indicator["latest_data_date"] == "2026-09-01"  # the NULL observation does not count
    assert indicator["age_days"] == (today - dt.date(2026, 9, 1)).days
    assert dt.datetime.fromisoformat(indicator["last_loaded_at"]) == fetched_at
    sales = sources["sales"]
    assert sales["frequency"] == "daily"
    assert sales["latest_data_date"] == published.last_sale_date.isoformat()
    assert sales["age_days"] == (today - published.last_sale_date).days
    assert dt.datetime.fromisoformat(sales["last_loaded_at"]) == published.sales_merged_at


# --- cache headers and revalidation -------------------------------------------------------

FORECAST_PATHS = [
    "/forecast/top-products",
    "/forecast/categories",
    "/forecast/trends/dairy",
    "/forecast/model-info",
]


@pytest.mark.parametrize("path", FORECAST_PATHS)
def test_forecast_responses_carry_etag_and_revalidate_to_304(
    client: TestClient, published: Warehouse, auth: dict, path: str
) -> None:
    first = client.get(f"{V1}{path}", headers=auth)

    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{24}"', etag)
    assert first.headers["x-forecast-run"] == published.run.run_id
    assert "max-age=60" in first.headers["cache-control"]

    again = client.get(f"{V1}{path}", headers=auth)
    assert again.status_code == 200
    assert again.headers["etag"] == etag
    assert again.content == first.content

    for held in (etag, f"W/{etag}", f'"other", {etag}'):
        revalidated = client.get(f"{V1}{path}", headers={**auth, "If-None-Match": held})
        assert revalidated.status_code == 304, held
        assert revalidated.content == b""
        assert revalidated.headers["etag"] == etag
        assert revalidated.headers["x-forecast-run"] == published.run.run_id

    stale = client.get(f"{V1}{path}", headers={**auth, "If-None-Match": '"other"'})
    assert stale.status_code == 200
    assert stale.content == first.content


def test_equal_requests_share_an_etag_and_different_ones_do_not(
    client: TestClient, auth: dict
) -> None:
    url = f"{V1}/forecast/top-products"
    one = client.get(f"{url}?limit=5&time_period=month", headers=auth)
    same = client.get(f"{url}?time_period=month&limit=5", headers=auth)
    other = client.get(f"{url}?time_period=month&limit=6", headers=auth)

    assert one.headers["etag"] == same.headers["etag"]
    assert one.content == same.content
    assert other.headers["etag"] != one.headers["etag"]
    assert len(other.json()["data"]) == 18


def test_a_cached_response_is_not_served_for_a_differently_encoded_query(
    client: TestClient, auth: dict
) -> None:
    """A category whose name contains ``&limit=1`` is not the category plus a limit."""
    url = f"{V1}/forecast/top-products"
    real = client.get(url, params={"category": "dairy", "limit": 1}, headers=auth)
    assert real.status_code == 200

    odd = client.get(url, params={"category": "dairy&limit=1"}, headers=auth)

    assert odd.status_code == 404, odd.json()
    assert odd.json() == {"detail": "unknown category: 'dairy&limit=1'"}


# --- invalid parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "parameter", "message"),
    [
        ("/forecast/top-products", {"time_period": "decade"}, "time_period", "'week', 'month'"),
        ("/forecast/top-products", {"limit": 0}, "limit", "greater than or equal to 1"),
        ("/forecast/top-products", {"limit": 101}, "limit", "less than or equal to 100"),
        ("/forecast/top-products", {"offset": -1}, "offset", "greater than or equal to 0"),
        ("/forecast/top-products", {"limit": "ten"}, "limit", "valid integer"),
        ("/forecast/categories", {"time_period": "decade"}, "time_period", "'year'"),
        ("/forecast/categories", {"limit": 101}, "limit", "less than or equal to 100"),
        ("/forecast/trends/dairy", {"weeks": 53}, "weeks", "less than or equal to 52"),
        ("/forecast/trends/dairy", {"days": 0}, "days", "greater than or equal to 1"),
        ("/data/categories", {"limit": 501}, "limit", "less than or equal to 500"),
        ("/data/categories", {"offset": -1}, "offset", "greater than or equal to 0"),
    ],
)
def test_invalid_parameters_are_422_naming_the_parameter(
    client: TestClient, auth: dict, path: str, params: dict, parameter: str, message: str
) -> None:
    response = client.get(f"{V1}{path}", params=params, headers=auth)

    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"].startswith(f"{parameter}: "), body["detail"]
    assert message in body["detail"]
    assert body["errors"][0]["loc"] == ["query", parameter]


def test_every_invalid_parameter_is_named(client: TestClient, auth: dict) -> None:
    response = client.get(
        f"{V1}/forecast/top-products", params={"limit": 0, "offset": -1}, headers=auth
    )

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.split("; ") == [
        "limit: Input should be greater than or equal to 1",
        "offset: Input should be greater than or equal to 0",
    ]


# --- CORS ---------------------------------------------------------------------------------


def test_cors_allows_the_configured_origin_only(published: Warehouse) -> None:
    preflight = {"Access-Control-Request-Method": "GET"}
    url = f"{V1}/forecast/top-products"
    with serve(published.api_url, cors_origins=["https://dash.example"]) as client:
        allowed = client.options(
            url,
            headers={
                **preflight,
                "Origin": "https://dash.example",
                "Access-Control-Request-Headers": "X-API-Key",
            },
        )
        refused = client.options(url, headers={**preflight, "Origin": "https://evil.example"})
        simple = client.get(
            url, headers={"Origin": "https://dash.example", "X-API-Key": published.key}
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    assert "GET" in allowed.headers["access-control-allow-methods"]
    assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in refused.headers
    assert refused.status_code == 400
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == "https://dash.example"
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert "etag" in exposed and "x-forecast-run" in exposed


def test_without_cors_origins_there_are_no_cors_headers(
    client: TestClient, published: Warehouse
) -> None:
    response = client.get(
        f"{V1}/forecast/top-products",
        headers={"Origin": "https://dash.example", "X-API-Key": published.key},
    )

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
