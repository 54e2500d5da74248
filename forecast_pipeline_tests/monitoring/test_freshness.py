"""Freshness policies: every source and the published forecasts carry one, and both Dagster
instances evaluate them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from dagster._core.definitions.freshness import CronFreshnessPolicy, TimeWindowFreshnessPolicy

from forecast_pipeline.definitions import build_definitions
from forecast_pipeline.deployments import Deployment

REPO = Path(__file__).resolve().parents[2]
SOURCES = {
    "raw/sales_file": (timedelta(days=2), timedelta(days=8)),
    "warehouse/sales_history": (timedelta(days=2), timedelta(days=8)),
    "warehouse/indicator_observations": (timedelta(hours=30), timedelta(days=3)),
}
PUBLISHED = [
    "forecasts/product_forecasts",
    "forecasts/category_forecasts",
    "forecasts/category_outlook",
    "forecasts/category_history",
    "forecasts/top_products",
]


def _policies() -> dict[str, object]:
    graph = build_definitions(Deployment.LOCAL).resolve_asset_graph()
    return {
        key.to_user_string(): graph.get(key).freshness_policy for key in graph.get_all_asset_keys()
    }


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_every_source_warns_then_fails_when_it_stops_arriving(key: str) -> None:
    policy = _policies()[key]
    assert isinstance(policy, TimeWindowFreshnessPolicy), f"{key} has no time-window policy"
    warn, fail = SOURCES[key]
    assert (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta()) == (warn, fail)


@pytest.mark.parametrize("key", PUBLISHED)
def test_published_forecasts_are_due_every_monday_by_noon(key: str) -> None:
    policy = _policies()[key]
    assert isinstance(policy, CronFreshnessPolicy), f"{key} has no deadline policy"
    assert policy.deadline_cron == "0 12 * * 1" and policy.timezone == "UTC"
    assert policy.lower_bound_delta == timedelta(hours=6)


def test_intermediate_assets_have_no_policy_of_their_own() -> None:
    with_policy = {key for key, policy in _policies().items() if policy is not None}
    assert with_policy == set(SOURCES) | set(PUBLISHED)


@pytest.mark.parametrize("path", ["dagster.yaml", "deploy/dagster.yaml"])
def test_both_instances_evaluate_freshness(path: str) -> None:
    config = yaml.safe_load((REPO / path).read_text())
    assert config["freshness"] == {"enabled": True}, path
