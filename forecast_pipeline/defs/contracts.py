"""Asset metadata from the data contracts: the contract's id and version and its column schema.

Reading a contract reads a YAML file shipped with the code (no environment, no network), so
this runs while definitions load and the UI shows every table's columns before it is built.
"""

from typing import Any

import dagster as dg

from forecast_pipeline.contracts import load_contract, table_schema

CONTRACT_KEY = "contract"


def contract_metadata(contract_id: str) -> dict[str, Any]:
    """``contract`` (``id@version``) and ``dagster/column_schema`` for an asset's definition."""
    contract = load_contract(contract_id)
    return {
        CONTRACT_KEY: f"{contract.id}@{contract.version}",
        "dagster/column_schema": table_schema(contract),
    }


def contract_of(asset_metadata: dict[str, Any]) -> str | None:
    """The contract id an asset's metadata names, if any."""
    value = asset_metadata.get(CONTRACT_KEY)
    if value is None:
        return None
    text = value.value if isinstance(value, dg.TextMetadataValue) else str(value)
    return text.split("@", 1)[0]
