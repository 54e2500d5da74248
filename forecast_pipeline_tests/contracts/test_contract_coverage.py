"""Every contract maps to an asset and a table, every table asset to a contract."""

from __future__ import annotations

import datetime
import typing

import psycopg
import pytest
from pydantic import ValidationError

from forecast_pipeline.contracts import load_all_contracts, load_contract
from forecast_pipeline.contracts.typed_models import contract_model
from forecast_pipeline.definitions import build_definitions
from forecast_pipeline.defs.contracts import contract_of
from forecast_pipeline.deployments import Deployment

TABLE_GROUPS = {"validated", "warehouse", "forecasts"}  # assets that are tables
POSTGRES_TYPES = {
    "string": {"text"},
    "integer": {"integer", "bigint"},
    "number": {"numeric", "double precision"},
    "boolean": {"boolean"},
    "date": {"date"},
    "timestamp": {"timestamp with time zone"},
}


def _asset_contracts() -> dict[str, str | None]:
    defs = build_definitions(Deployment.LOCAL)
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): contract_of(dict(graph.get(key).metadata))
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name in TABLE_GROUPS
    }


def test_every_table_asset_has_a_contract_and_every_contract_an_asset() -> None:
    by_asset = _asset_contracts()
    assert by_asset, "no table assets found"
    missing = sorted(asset for asset, contract in by_asset.items() if contract is None)
    assert missing == [], f"table assets without a contract: {missing}"
    contract_ids = {c.id for c in load_all_contracts()}
    assert set(by_asset.values()) == contract_ids
    assert by_asset["validated/sales_rows"] == "sales_upload"
    assert by_asset["forecasts/top_products"] == "top_products"


@pytest.mark.parametrize(
    "contract_id", [c.id for c in load_all_contracts() if "." in (c.table.physical_name or "")]
)
def test_contract_matches_its_postgres_table(contract_id: str, warehouse_url: str) -> None:
    contract = load_contract(contract_id)
    schema, table = (contract.table.physical_name or "").split(".")
    with psycopg.connect(warehouse_url) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()
    in_table = {name: (data_type, nullable == "NO") for name, data_type, nullable in columns}
    in_contract = {p.name: p for p in contract.properties}
    assert sorted(in_table) == sorted(in_contract)
    for name, prop in in_contract.items():
        data_type, not_null = in_table[name]
        assert data_type in POSTGRES_TYPES[prop.logical_type], (name, data_type)
        assert not_null == prop.required, name


def test_typed_model_follows_the_contract() -> None:
    model = contract_model(load_contract("top_products"), "Row", exclude={"run_id"})
    assert "run_id" not in model.model_fields
    assert typing.get_args(model.model_fields["trend"].annotation) == ("up", "down", "flat")
    row = {
        "category": "Toys",
        "time_period": "week",
        "rank": 1,
        "product_id": "P1",
        "product_name": None,
        "predicted_units": 3.5,
        "lower_80": 1.0,
        "upper_80": 6.0,
        "previous_units": 2.0,
        "change_pct": None,
        "trend": "up",
        "action": "stock_up",
        "cold_start": False,
    }
    assert model(**row).rank == 1
    with pytest.raises(ValidationError):
        model(**{**row, "trend": "sideways"})
    with pytest.raises(ValidationError):
        model(**{k: v for k, v in row.items() if k != "product_id"})
    history = contract_model(load_contract("sales_history"), "History")
    assert history.model_fields["sale_date"].annotation is datetime.date
