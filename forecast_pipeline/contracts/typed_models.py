"""Pydantic models generated from a contract, for the API's typed responses."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from forecast_pipeline.contracts.model import DataContract, Property

PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "date": datetime.date,
    "timestamp": datetime.datetime,
}


def _annotation(prop: Property) -> Any:
    annotation: Any = PYTHON_TYPES[prop.logical_type]
    for rule in prop.rules:
        if rule.rule == "validValues" and rule.valid_values:
            annotation = Literal[tuple(rule.valid_values)]  # type: ignore[valid-type]
    return annotation if prop.required else annotation | None


def contract_model(
    contract: DataContract, name: str, *, exclude: Iterable[str] = ()
) -> type[BaseModel]:
    """A model with one field per contract column (minus ``exclude``), typed by logicalType.

    Required columns are required fields; optional ones default to None; ``validValues`` become
    ``Literal`` types; descriptions become field descriptions (and so the OpenAPI docs).
    """
    skipped = set(exclude)
    fields: dict[str, Any] = {
        prop.name: (
            _annotation(prop),
            Field(... if prop.required else None, description=prop.description),
        )
        for prop in contract.properties
        if prop.name not in skipped
    }
    return create_model(name, __doc__=contract.table.description, **fields)
