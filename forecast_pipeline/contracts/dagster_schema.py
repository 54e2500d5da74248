"""Dagster ``TableSchema`` of a contract, for asset metadata (``dagster/column_schema``)."""

from __future__ import annotations

import dagster as dg

from forecast_pipeline.contracts.model import DataContract, Property, QualityRule


def _describe_rule(rule: QualityRule) -> str:
    if rule.rule == "mustBeBetween" and rule.must_be_between is not None:
        low, high = rule.must_be_between
        return f"mustBeBetween [{low}, {high}]"
    if rule.rule == "mustBeGreaterThanOrEqualTo":
        return f">= {rule.must_be_greater_than_or_equal_to}"
    if rule.rule == "mustBeLessThanOrEqualTo":
        return f"<= {rule.must_be_less_than_or_equal_to}"
    if rule.rule == "validValues":
        return f"validValues {list(rule.valid_values or ())}"
    if rule.rule == "mustNotBeInFuture":
        return "mustNotBeInFuture (not after the upload date)"
    return rule.rule_id


def _column(prop: Property) -> dg.TableColumn:
    other = [_describe_rule(rule) for rule in prop.rules]
    if prop.default_value is not None:
        other.insert(0, f"default {prop.default_string!r}")
    return dg.TableColumn(
        name=prop.name,
        type=prop.logical_type,
        description=prop.description,
        constraints=dg.TableColumnConstraints(
            nullable=not prop.required and prop.default_value is None,
            unique=prop.unique,
            other=other or None,
        ),
    )


def table_schema(contract: DataContract) -> dg.TableSchema:
    """Columns (name, logical type, description, nullable/unique/rules) and table rules."""
    table_rules = [
        f"{rule.rule_id}: unique ({', '.join(rule.columns or ())})"
        for rule in contract.table.rules
        if rule.rule == "uniqueCombination"
    ]
    return dg.TableSchema(
        columns=[_column(prop) for prop in contract.properties],
        constraints=dg.TableConstraints(other=table_rules) if table_rules else None,
    )
