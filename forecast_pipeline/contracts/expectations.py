"""Translation of a data contract into a Great Expectations 1.x ExpectationSuite.

Every expectation carries ``meta`` that lets a validation result be mapped back
to the contract: ``rule`` (the rule id reported in rejections), ``column`` (or
``columns`` for row-level rules) and ``message`` (a template for the rejection
message, with ``{value}`` standing for the offending value's repr).

Mapping (contract -> GX expectation class):

* ``required: true`` -> ExpectColumnToExist and ExpectColumnValuesToNotBeNull
* ``unique: true`` -> ExpectColumnValuesToBeUnique
* ``mustBeBetween: [a, b]`` -> ExpectColumnValuesToBeBetween(min_value=a, max_value=b)
* ``mustBeGreaterThanOrEqualTo: x`` -> ExpectColumnValuesToBeBetween(min_value=x)
* ``mustBeLessThanOrEqualTo: x`` -> ExpectColumnValuesToBeBetween(max_value=x)
* ``validValues: [...]`` -> ExpectColumnValuesToBeInSet(value_set=[...])
* ``mustNotBeInFuture: true`` -> ExpectColumnValuesToBeBetween(max_value=as_of)
* object-level ``uniqueCombination`` -> ExpectCompoundColumnsToBeUnique(column_list,
  ignore_row_if="any_value_is_missing")
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from forecast_pipeline.contracts.model import DataContract, Property, QualityRule

if TYPE_CHECKING:
    import great_expectations as gx

#: Suite parameter holding the upload's received date when ``as_of`` is not fixed.
AS_OF_PARAMETER = "as_of"

#: Rule ids for the checks that come from property flags rather than quality rules.
REQUIRED_RULE = "required"
UNIQUE_RULE = "unique"


def suite_name(contract: DataContract) -> str:
    return f"{contract.id}@{contract.version}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _column_expectations(prop: Property, rule: QualityRule, as_of: dt.date | None) -> Any:
    import great_expectations as gx

    expectations = gx.expectations
    meta: dict[str, Any] = {"rule": rule.rule_id, "column": prop.name}
    if rule.description:
        meta["description"] = rule.description
    if rule.rule == "mustBeBetween":
        low, high = rule.must_be_between or (0, 0)
        meta["message"] = (
            f"{prop.name}: {{value}} is not between {_number(low)} and {_number(high)}"
        )
        return expectations.ExpectColumnValuesToBeBetween(
            column=prop.name, min_value=low, max_value=high, meta=meta
        )
    if rule.rule == "mustBeGreaterThanOrEqualTo":
        low = rule.must_be_greater_than_or_equal_to
        meta["message"] = f"{prop.name}: {{value}} is less than {_number(low or 0)}"
        return expectations.ExpectColumnValuesToBeBetween(
            column=prop.name, min_value=low, meta=meta
        )
    if rule.rule == "mustBeLessThanOrEqualTo":
        high = rule.must_be_less_than_or_equal_to
        meta["message"] = f"{prop.name}: {{value}} is greater than {_number(high or 0)}"
        return expectations.ExpectColumnValuesToBeBetween(
            column=prop.name, max_value=high, meta=meta
        )
    if rule.rule == "validValues":
        values = list(rule.valid_values or ())
        if prop.logical_type == "string":
            values = [str(v) for v in values]
        meta["message"] = f"{prop.name}: {{value}} is not one of {values}"
        return expectations.ExpectColumnValuesToBeInSet(
            column=prop.name, value_set=values, meta=meta
        )
    if rule.rule == "mustNotBeInFuture":
        if as_of is None:
            limit: Any = {"$PARAMETER": AS_OF_PARAMETER}
            meta["message"] = f"{prop.name}: {{value}} is after the upload date"
        else:
            limit = dt.datetime.combine(as_of, dt.time())
            meta["message"] = f"{prop.name}: {{value}} is after the upload date {as_of.isoformat()}"
        return expectations.ExpectColumnValuesToBeBetween(
            column=prop.name, max_value=limit, meta=meta
        )
    raise ValueError(f"rule {rule.rule!r} cannot be applied to column {prop.name!r}")


def expectations_for(contract: DataContract, *, as_of: dt.date | None = None) -> list[Any]:
    """The GX expectations of a contract, in contract order."""
    import great_expectations as gx

    expectations = gx.expectations
    result: list[Any] = []
    for prop in contract.properties:

        def meta(rule: str, message: str, column: str = prop.name) -> dict[str, Any]:
            return {"rule": rule, "column": column, "message": f"{column}: {message}"}

        if prop.required:
            result.append(
                expectations.ExpectColumnToExist(
                    column=prop.name, meta=meta(REQUIRED_RULE, "column is missing")
                )
            )
            result.append(
                expectations.ExpectColumnValuesToNotBeNull(
                    column=prop.name, meta=meta(REQUIRED_RULE, "a value is required")
                )
            )
        if prop.unique:
            result.append(
                expectations.ExpectColumnValuesToBeUnique(
                    column=prop.name,
                    meta=meta(UNIQUE_RULE, "{value} appears on more than one line"),
                )
            )
        result.extend(_column_expectations(prop, rule, as_of) for rule in prop.rules)
    for rule in contract.table.rules:
        columns = list(rule.columns or ())
        meta: dict[str, Any] = {
            "rule": rule.rule_id,
            "column": None,
            "columns": columns,
            "message": f"duplicate key ({', '.join(columns)}) = {{value}}",
        }
        if rule.description:
            meta["description"] = rule.description
        result.append(
            expectations.ExpectCompoundColumnsToBeUnique(
                column_list=columns, ignore_row_if="any_value_is_missing", meta=meta
            )
        )
    return result


def expectation_suite(
    contract: DataContract, *, as_of: dt.date | None = None
) -> gx.ExpectationSuite:
    """A GX 1.x ExpectationSuite generated from the contract.

    The suite checks a frame whose columns are already of their logical type
    (see ``coercion``); type conversion itself is not an expectation. With
    ``as_of`` the "not in the future" limit is fixed; without it the limit is the
    suite parameter ``{"$PARAMETER": "as_of"}``, to be given at run time with
    ``expectation_parameters={"as_of": datetime}``.
    """
    import great_expectations as gx

    return gx.ExpectationSuite(
        name=suite_name(contract),
        expectations=expectations_for(contract, as_of=as_of),
        meta={"contract_id": contract.id, "contract_version": contract.version},
    )
