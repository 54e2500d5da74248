import datetime as dt

import dagster as dg
import great_expectations as gx
import pandas as pd

from forecast_pipeline.contracts import expectation_suite, table_schema
from forecast_pipeline.contracts.validation import RESULT_FORMAT


def _described(suite):
    return [
        (
            e.expectation_type,
            e.configuration.kwargs.get("column") or e.configuration.kwargs.get("column_list"),
            e.meta["rule"],
        )
        for e in suite.expectations
    ]


def test_suite_maps_contract_rules_to_gx_expectations(sales_contract):
    suite = expectation_suite(sales_contract, as_of=dt.date(2024, 3, 31))
    assert isinstance(suite, gx.ExpectationSuite)
    assert suite.name == "sales_upload@1.0.0"
    assert _described(suite) == [
        ("expect_column_to_exist", "date", "required"),
        ("expect_column_values_to_not_be_null", "date", "required"),
        ("expect_column_values_to_be_between", "date", "mustNotBeInFuture"),
        ("expect_column_to_exist", "product_id", "required"),
        ("expect_column_values_to_not_be_null", "product_id", "required"),
        ("expect_column_to_exist", "category", "required"),
        ("expect_column_values_to_not_be_null", "category", "required"),
        ("expect_column_to_exist", "units", "required"),
        ("expect_column_values_to_not_be_null", "units", "required"),
        ("expect_column_values_to_be_between", "units", "mustBeBetween"),
        ("expect_column_values_to_be_between", "unit_price", "mustBeGreaterThanOrEqualTo"),
        ("expect_compound_columns_to_be_unique", ["date", "store_id", "product_id"], "unique_key"),
    ]


def test_suite_parameters(sales_contract):
    suite = expectation_suite(sales_contract, as_of=dt.date(2024, 3, 31))
    by_rule = {e.meta["rule"]: e for e in suite.expectations}
    units = by_rule["mustBeBetween"]
    assert (units.min_value, units.max_value) == (-100000, 1000000)
    assert by_rule["mustBeGreaterThanOrEqualTo"].min_value == 0
    assert by_rule["mustBeGreaterThanOrEqualTo"].max_value is None
    assert by_rule["mustNotBeInFuture"].max_value == dt.datetime(2024, 3, 31)
    key = by_rule["unique_key"]
    assert key.ignore_row_if == "any_value_is_missing"


def test_suite_without_as_of_uses_a_suite_parameter(sales_contract):
    suite = expectation_suite(sales_contract)
    (future,) = [e for e in suite.expectations if e.meta["rule"] == "mustNotBeInFuture"]
    assert future.max_value == {"$PARAMETER": "as_of"}

    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("p")
        .add_dataframe_asset("a")
        .add_batch_definition_whole_dataframe("w")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="v", data=batch, suite=context.suites.add(suite))
    )
    frame = pd.DataFrame(
        {
            "line_number": [2, 3],
            "date": pd.to_datetime(["2024-03-31", "2024-04-01"]),
            "store_id": ["main", "main"],
            "product_id": ["a", "b"],
            "category": ["c", "c"],
            "units": [1.0, 2.0],
            "unit_price": [1.0, None],
        }
    )
    result = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters={"as_of": dt.datetime(2024, 3, 31)},
        result_format=RESULT_FORMAT,
    )
    failed = [r for r in result.results if not r.success]
    assert [r.expectation_config.meta["rule"] for r in failed] == ["mustNotBeInFuture"]
    assert failed[0].result["unexpected_index_list"] == [{"line_number": [3]}]


def test_table_schema(sales_contract):
    schema = table_schema(sales_contract)
    assert isinstance(schema, dg.TableSchema)
    columns = {c.name: c for c in schema.columns}
    assert list(columns) == sales_contract.column_names
    assert columns["date"].type == "date"
    assert columns["units"].type == "integer"
    assert columns["unit_price"].type == "number"
    assert columns["on_promotion"].type == "boolean"
    assert columns["product_id"].description.startswith("Merchant's product identifier")
    assert not columns["product_id"].constraints.nullable
    assert columns["product_name"].constraints.nullable
    # store_id may be absent from a file but always has a value once the default applies
    assert not columns["store_id"].constraints.nullable
    assert "default 'main'" in columns["store_id"].constraints.other
    assert columns["units"].constraints.other == ["mustBeBetween [-100000, 1000000]"]
    assert not any(c.constraints.unique for c in schema.columns)
    assert schema.constraints.other == ["unique_key: unique (date, store_id, product_id)"]
    # usable as Dagster column-schema metadata
    metadata = dg.TableSchemaMetadataValue(schema)
    assert metadata.schema == schema
