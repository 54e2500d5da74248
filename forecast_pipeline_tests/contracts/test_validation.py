import datetime as dt

import pandas as pd
import pytest

from forecast_pipeline.contracts import ContractViolation, validate_frame

AS_OF = dt.date(2024, 3, 31)
CLEAN = {
    "date": "2024-03-01",
    "store_id": "s1",
    "product_id": "P1",
    "product_name": "Apple juice",
    "category": "drinks",
    "units": "3",
    "unit_price": "1.50",
    "revenue": "4.50",
    "on_promotion": "false",
}


def frame(*rows: dict, first_line: int = 2) -> pd.DataFrame:
    data = pd.DataFrame([{**CLEAN, **row} for row in rows], dtype=object)
    data = data.astype(object).where(data.notna(), None)
    data["line_number"] = range(first_line, first_line + len(rows))
    return data


def rejections(outcome) -> list[tuple]:
    return [
        (r.line_number, r.column, r.value, r.rule)
        for r in outcome.rejections.itertuples(index=False)
    ]


def assert_accounting(outcome) -> None:
    assert outcome.rows_read == outcome.rows_accepted + outcome.rows_rejected
    assert outcome.rows_accepted == len(outcome.accepted)
    assert outcome.rows_rejected == outcome.rejections["line_number"].nunique()
    assert set(outcome.accepted["line_number"]).isdisjoint(outcome.rejections["line_number"])


def test_clean_frame_is_accepted_with_typed_columns(sales_contract):
    outcome = validate_frame(
        sales_contract,
        frame({}, {"product_id": "P2", "units": "-4", "on_promotion": "YES", "unit_price": None}),
        as_of=AS_OF,
    )
    assert outcome.success
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (2, 2, 0)
    assert outcome.rejections.empty
    assert list(outcome.rejections.columns) == ["line_number", "column", "value", "rule", "message"]
    accepted = outcome.accepted
    assert list(accepted.columns) == [*sales_contract.column_names, "line_number"]
    assert accepted["date"].dtype == "datetime64[ns]"
    assert accepted["units"].dtype == "int64"
    assert accepted["unit_price"].dtype == "float64"
    assert accepted["revenue"].dtype == "float64"
    assert accepted["line_number"].dtype == "int64"
    assert accepted["store_id"].dtype == object
    assert accepted["units"].tolist() == [3, -4]
    assert accepted["on_promotion"].tolist() == [False, True]
    assert accepted["date"].tolist() == [pd.Timestamp("2024-03-01")] * 2
    assert accepted["unit_price"].iloc[0] == 1.5 and pd.isna(accepted["unit_price"].iloc[1])
    assert accepted["line_number"].tolist() == [2, 3]
    assert all(r["success"] for r in outcome.expectation_results)


def test_type_failures_are_logical_type_rejections(sales_contract):
    outcome = validate_frame(
        sales_contract,
        frame(
            {},
            {"date": "2024/03/01", "product_id": "P2"},
            {"units": "abc", "product_id": "P3"},
            {"units": "12.5", "product_id": "P4"},
            {"units": "12.0", "product_id": "P5"},
            {"on_promotion": "maybe", "unit_price": "1,5", "product_id": "P6"},
        ),
        as_of=AS_OF,
    )
    assert rejections(outcome) == [
        (3, "date", "2024/03/01", "logicalType"),
        (4, "units", "abc", "logicalType"),
        (5, "units", "12.5", "logicalType"),
        (7, "unit_price", "1,5", "logicalType"),
        (7, "on_promotion", "maybe", "logicalType"),
    ]
    messages = outcome.rejections["message"].tolist()
    assert messages[0] == "date: '2024/03/01' is not a valid date (expected YYYY-MM-DD)"
    assert messages[1] == "units: 'abc' is not an integer"
    assert messages[3] == "unit_price: '1,5' is not a number"
    # a value that failed coercion is not reported again as a missing required value
    assert "required" not in outcome.rejections["rule"].tolist()
    assert outcome.accepted["line_number"].tolist() == [2, 6]
    assert outcome.accepted["units"].tolist() == [3, 12]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (6, 2, 4)
    assert_accounting(outcome)


def test_gx_rules(sales_contract):
    outcome = validate_frame(
        sales_contract,
        frame(
            {"units": "1000000"},
            {"units": "1000001", "product_id": "P2"},
            {"units": "-100001", "product_id": "P3"},
            {"units": "99999999999", "product_id": "P4"},
            {"product_id": None},
            {"category": None, "product_id": "P6"},
            {"unit_price": "-0.01", "product_id": "P7"},
            {"date": "2024-04-01", "product_id": "P8"},
            {"date": "2024-03-31", "product_id": "P9"},
        ),
        as_of=AS_OF,
    )
    assert rejections(outcome) == [
        (3, "units", "1000001", "mustBeBetween"),
        (4, "units", "-100001", "mustBeBetween"),
        (5, "units", "99999999999", "mustBeBetween"),
        (6, "product_id", None, "required"),
        (7, "category", None, "required"),
        (8, "unit_price", "-0.01", "mustBeGreaterThanOrEqualTo"),
        (9, "date", "2024-04-01", "mustNotBeInFuture"),
    ]
    messages = dict(
        zip(outcome.rejections["line_number"], outcome.rejections["message"], strict=True)
    )
    assert messages[3] == "units: '1000001' is not between -100000 and 1000000"
    assert messages[6] == "product_id: a value is required"
    assert messages[8] == "unit_price: '-0.01' is less than 0"
    assert messages[9] == "date: '2024-04-01' is after the upload date 2024-03-31"
    assert outcome.accepted["line_number"].tolist() == [2, 10]
    assert_accounting(outcome)
    results = {(r["rule"], r["column"]): r for r in outcome.expectation_results}
    assert results[("mustBeBetween", "units")]["unexpected_count"] == 3
    assert (
        results[("mustBeBetween", "units")]["expectation_type"]
        == "expect_column_values_to_be_between"
    )
    assert not results[("required", "product_id")]["success"]
    assert results[("required", "units")]["success"]


def test_several_violations_on_one_line_count_once(sales_contract):
    outcome = validate_frame(
        sales_contract,
        frame({"units": "5000000", "unit_price": "-1", "date": "2030-01-01", "category": None}),
        as_of=AS_OF,
    )
    assert [r[3] for r in rejections(outcome)] == [
        "mustNotBeInFuture",
        "required",
        "mustBeBetween",
        "mustBeGreaterThanOrEqualTo",
    ]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (1, 0, 1)
    assert not outcome.success


def test_duplicate_keys_reject_every_line_of_the_key(sales_contract):
    outcome = validate_frame(
        sales_contract,
        frame(
            {"product_id": "P1"},
            {"product_id": "P2"},
            {"product_id": "P1", "units": "7"},
            {"product_id": "P1", "store_id": "s2"},
            {"product_id": "P2", "date": "2024-03-02"},
            {"product_id": "P3", "store_id": None},
            {"product_id": "P3", "store_id": "main"},
        ),
        as_of=AS_OF,
    )
    assert rejections(outcome) == [
        (2, None, None, "unique_key"),
        (4, None, None, "unique_key"),
        (7, None, None, "unique_key"),
        (8, None, None, "unique_key"),
    ]
    assert outcome.rejections["message"].iloc[0] == (
        "duplicate key (date, store_id, product_id) = ('2024-03-01', 's1', 'P1')"
    )
    # an empty store_id defaults to "main" before the key is compared
    assert outcome.rejections["message"].iloc[2].endswith("('2024-03-01', 'main', 'P3')")
    assert outcome.accepted["line_number"].tolist() == [3, 5, 6]
    assert_accounting(outcome)


def test_incomplete_keys_are_not_duplicates(sales_contract):
    outcome = validate_frame(
        sales_contract,
        frame({"product_id": None}, {"product_id": None}, {"date": "bad"}, {"date": "bad"}),
        as_of=AS_OF,
    )
    assert [r[3] for r in rejections(outcome)] == [
        "required",
        "required",
        "logicalType",
        "logicalType",
    ]


def test_store_id_defaults_to_main(sales_contract):
    data = frame({}, {"product_id": "P2"}, {"product_id": "P3", "store_id": None})
    data = data.drop(columns=["store_id", "product_name", "revenue", "on_promotion"])
    outcome = validate_frame(sales_contract, data, as_of=AS_OF)
    assert outcome.success
    assert outcome.accepted["store_id"].tolist() == ["main", "main", "main"]
    assert outcome.accepted["product_name"].isna().all()
    assert outcome.accepted["on_promotion"].dtype == "boolean"


def test_missing_required_column_is_a_file_level_violation(sales_contract):
    data = frame({}).drop(columns=["units", "category"])
    with pytest.raises(ContractViolation) as info:
        validate_frame(sales_contract, data, as_of=AS_OF)
    assert info.value.reason == "missing required columns: category, units"


def test_malformed_records_are_read_and_rejected(sales_contract):
    data = frame({}, {"product_id": None, "units": None, "category": None}, {"product_id": "P2"})
    data["_malformed"] = [None, "expected 9 fields, found 2", None]
    outcome = validate_frame(sales_contract, data, as_of=AS_OF)
    # the flagged record is not checked further: no "required" rejections for its empty cells
    assert rejections(outcome) == [(3, None, None, "field_count")]
    assert outcome.rejections["message"].tolist() == ["expected 9 fields, found 2"]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (3, 2, 1)
    assert outcome.accepted["line_number"].tolist() == [2, 4]
    assert "_malformed" not in outcome.accepted.columns


def test_empty_frame(sales_contract):
    outcome = validate_frame(sales_contract, frame({}).iloc[:0], as_of=AS_OF)
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (0, 0, 0)
    assert outcome.accepted.empty


def test_line_numbers_must_be_unique(sales_contract):
    data = frame({}, {"product_id": "P2"})
    data["line_number"] = [2, 2]
    with pytest.raises(ValueError, match="unique"):
        validate_frame(sales_contract, data, as_of=AS_OF)


def test_larger_frame_keeps_line_numbers_aligned(sales_contract):
    rows = [{"product_id": f"P{i}", "units": str(i)} for i in range(2000)]
    rows[1500]["units"] = "2000000"
    rows[700]["units"] = "x"
    data = frame(*rows, first_line=10)
    outcome = validate_frame(sales_contract, data, as_of=AS_OF)
    assert rejections(outcome) == [
        (710, "units", "x", "logicalType"),
        (1510, "units", "2000000", "mustBeBetween"),
    ]
    assert outcome.rows_accepted == 1998
    accepted = outcome.accepted.set_index("line_number")
    assert accepted.loc[1000, "units"] == 990
    assert accepted.loc[1000, "product_id"] == "P990"


def test_other_rule_kinds_with_a_small_contract():
    from forecast_pipeline.contracts.loader import parse_contract

    contract = parse_contract(
        {
            "apiVersion": "v3.0.2",
            "kind": "DataContract",
            "id": "small",
            "name": "Small",
            "version": "1.0.0",
            "status": "draft",
            "schema": [
                {
                    "name": "small",
                    "properties": [
                        {"name": "code", "logicalType": "string", "required": True, "unique": True},
                        {
                            "name": "size",
                            "logicalType": "string",
                            "quality": [{"rule": "validValues", "validValues": ["S", "M", "L"]}],
                        },
                        {
                            "name": "level",
                            "logicalType": "integer",
                            "quality": [
                                {"rule": "validValues", "validValues": [1, 2, 3]},
                                {
                                    "name": "level_cap",
                                    "rule": "mustBeLessThanOrEqualTo",
                                    "mustBeLessThanOrEqualTo": 2,
                                },
                            ],
                        },
                        {"name": "active", "logicalType": "boolean", "defaultValue": False},
                    ],
                }
            ],
        }
    )
    data = pd.DataFrame(
        {
            "code": ["a", "b", "a", "c", "d"],
            "size": ["S", "XL", None, "M", "L"],
            "level": ["1", "2", "3", "4", None],
            "line_number": [2, 3, 4, 5, 6],
        },
        dtype=object,
    )
    outcome = validate_frame(contract, data, as_of=AS_OF)
    assert rejections(outcome) == [
        (2, "code", "a", "unique"),
        (3, "size", "XL", "validValues"),
        (4, "code", "a", "unique"),
        (4, "level", "3", "level_cap"),
        (5, "level", "4", "validValues"),
        (5, "level", "4", "level_cap"),
    ]
    assert outcome.rejections["message"].tolist()[1] == "size: 'XL' is not one of ['S', 'M', 'L']"
    assert outcome.rejections["message"].tolist()[3] == "level: '3' is greater than 2"
    assert outcome.accepted["line_number"].tolist() == [6]
    assert outcome.accepted["active"].tolist() == [False]
    assert outcome.accepted["active"].dtype == "bool"
    assert outcome.accepted["level"].dtype == "Int64"
