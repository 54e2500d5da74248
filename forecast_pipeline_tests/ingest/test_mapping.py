"""Column-mapping profiles and transaction-grain uploads aggregated to the daily grain.

The fixture is a tiny, made-up file with the headers of Tableau's "Sample - Superstore"
export (order lines); the real export is exercised by the opt-in ``test_superstore.py``.
"""

import datetime as dt
import io
import math

import pandas as pd
import pytest
from pydantic import ValidationError

from forecast_pipeline.contracts import validate_frame
from forecast_pipeline.ingest import (
    ColumnMapping,
    InvalidMappingError,
    UploadRejected,
    aggregate_to_daily,
    check_upload,
    load_mappings,
    mapping_for,
    read_upload,
)

AS_OF = dt.date(2023, 1, 1)

HEADER = (
    "Row ID,Order ID,Order Date,Ship Date,Ship Mode,Customer ID,Customer Name,Segment,"
    "Country/Region,City,State/Province,Postal Code,Region,Product ID,Category,"
    "Sub-Category,Product Name,Sales,Quantity,Discount,Profit"
)


def _line(row_id, order_date, product_id, category, name, sales, quantity):
    return (
        f"{row_id},ORD-{row_id},{order_date},{order_date},Second Class,C-{row_id},Someone,"
        f"Consumer,Nowhere,Town,State,00000,West,{product_id},{category},Things,"
        f"{name},{sales},{quantity},0,1.5"
    )


#: file line -> content (the header is line 1)
LINES = [
    HEADER,  # 1
    _line(1, "2022-03-01", "OFF-1", "Office Supplies", "Stapler", "10.5", "3"),  # 2
    _line(2, "2022-03-01", "FUR-1", "Furniture", "Desk", "200", "1"),  # 3
    _line(3, "2022-03-01", "OFF-1", "Office Supplies", "Stapler", "7", "2"),  # 4
    _line(4, "2022-03-01", "OFF-1", "Office Supplies", "Stapler", "9", "two"),  # 5 bad units
    _line(5, "2022-03-02", "OFF-1", "Office Supplies", '"Stapler, red"', "4", "1"),  # 6 renamed
    _line(6, "2022-03-02", "TEC-1", "Technology", "Phone", "", "2"),  # 7 no revenue
    _line(7, "2022-03-02", "TEC-1", "Technology", "Phone", "", "3"),  # 8 no revenue
    _line(8, "2023-02-01", "TEC-1", "Technology", "Phone", "5", "1"),  # 9 after as_of
]
SUPERSTORE_CSV = ("\n".join(LINES) + "\n").encode()


@pytest.fixture(scope="module")
def superstore() -> ColumnMapping:
    mapping = mapping_for("superstore/orders.csv", load_mappings())
    assert mapping is not None
    return mapping


def _rejections(outcome):
    return [
        (r.line_number, r.column, r.value, r.rule)
        for r in outcome.rejections.itertuples(index=False)
    ]


# ----------------------------------------------------------------- the profile


def test_repository_superstore_profile(superstore, sales_contract):
    assert superstore.name == "superstore"
    assert superstore.grain == "transaction"
    assert superstore.columns == {
        "Order Date": "date",
        "Product ID": "product_id",
        "Product Name": "product_name",
        "Category": "category",
        "Quantity": "units",
        "Sales": "revenue",
    }
    # the profile covers every required column of the contract
    assert set(sales_contract.required_columns) <= set(superstore.columns.values())


def test_headers_are_renamed_and_others_ignored(superstore, sales_contract):
    parsed = read_upload(SUPERSTORE_CSV, "orders.csv", sales_contract, mapping=superstore)
    assert parsed.mapping is superstore
    assert parsed.columns == {
        "date": "Order Date",
        "product_id": "Product ID",
        "category": "Category",
        "product_name": "Product Name",
        "revenue": "Sales",
        "units": "Quantity",
    }
    assert "Sub-Category" in parsed.ignored_columns and "Discount" in parsed.ignored_columns
    frame = parsed.frame
    assert frame["units"].tolist() == ["3", "1", "2", "two", "1", "2", "3", "1"]
    assert frame["line_number"].tolist() == list(range(2, 10))


def test_mapped_headers_match_case_insensitively_after_stripping(superstore, sales_contract):
    data = (
        b" order date ;PRODUCT ID;category;QUANTITY ;sales\n2022-03-01;OFF-1;Office Supplies;3;10\n"
    )
    parsed, outcome = check_upload(
        data, "orders.csv", sales_contract, as_of=AS_OF, mapping=superstore
    )
    assert parsed.delimiter == ";"
    assert parsed.columns["date"] == "order date"
    assert parsed.columns["units"] == "QUANTITY"
    assert outcome.success
    assert outcome.accepted["units"].tolist() == [3]


def test_mapping_wins_over_a_header_named_like_its_target(superstore, sales_contract):
    # the mapping reads units from "Quantity": a "units" header is ignored
    data = b"Order Date,Product ID,Category,Quantity,units\n2022-03-01,P1,c,3,99\n"
    parsed, outcome = check_upload(
        data, "orders.csv", sales_contract, as_of=AS_OF, mapping=superstore
    )
    assert parsed.ignored_columns == ["units"]
    assert outcome.accepted["units"].tolist() == [3]


def test_untargeted_contract_columns_keep_their_own_names(superstore, sales_contract):
    data = b"Order Date,Product ID,Category,Quantity,Store_ID\n2022-03-01,P1,c,3,north\n"
    _, outcome = check_upload(data, "orders.csv", sales_contract, as_of=AS_OF, mapping=superstore)
    assert outcome.accepted["store_id"].tolist() == ["north"]


def test_missing_mapped_required_column_names_the_files_header(superstore, sales_contract):
    # "date" is not read: the mapping says the date is in "Order Date"
    data = b"date,Product ID,Category,Sales\n2022-03-01,P1,c,3\n"
    with pytest.raises(UploadRejected) as info:
        check_upload(data, "orders.csv", sales_contract, as_of=AS_OF, mapping=superstore)
    assert info.value.reason == "missing required columns: Order Date (date), Quantity (units)"


def test_missing_unmapped_required_column_keeps_the_contract_name(sales_contract):
    mapping = ColumnMapping(name="partial", columns={"Qty": "units"})
    with pytest.raises(UploadRejected) as info:
        read_upload(
            b"date,product_id,Qty\n2022-03-01,P1,3\n", "s.csv", sales_contract, mapping=mapping
        )
    assert info.value.reason == "missing required columns: category"


def test_mapping_applies_to_parquet(superstore, sales_contract):
    table = pd.DataFrame(
        {
            "Order Date": pd.to_datetime(["2022-03-01", "2022-03-01"]),
            "Product ID": ["P1", "P1"],
            "Category": ["c", "c"],
            "Quantity": [2, 5],
            "Sales": [4.0, 10.0],
        }
    )
    buffer = io.BytesIO()
    table.to_parquet(buffer)
    parsed, outcome = check_upload(
        buffer.getvalue(), "orders.parquet", sales_contract, as_of=AS_OF, mapping=superstore
    )
    assert parsed.format == "parquet"
    assert outcome.accepted[["units", "revenue", "source_lines"]].values.tolist() == [[7, 14, 2]]


# ------------------------------------------------------------ the aggregation


def test_transaction_lines_are_aggregated_to_the_daily_grain(superstore, sales_contract):
    _, outcome = check_upload(
        SUPERSTORE_CSV, "superstore/orders.csv", sales_contract, as_of=AS_OF, mapping=superstore
    )
    # every line validated on its own; no unique_key rejection although keys repeat
    assert _rejections(outcome) == [
        (5, "units", "two", "logicalType"),
        (9, "date", "2023-02-01", "mustNotBeInFuture"),
    ]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (8, 6, 2)
    assert outcome.rows_read == outcome.rows_accepted + outcome.rows_rejected
    assert "unique_key" not in {r["rule"] for r in outcome.expectation_results}

    daily = outcome.accepted
    assert outcome.daily_rows == len(daily) == 4
    assert list(daily.columns) == [*sales_contract.column_names, "line_number", "source_lines"]
    assert daily["source_lines"].dtype == "int64" and daily["units"].dtype == "int64"
    rows = {
        (row.date.date().isoformat(), row.product_id): row for row in daily.itertuples(index=False)
    }
    assert list(rows) == [
        ("2022-03-01", "OFF-1"),
        ("2022-03-01", "FUR-1"),
        ("2022-03-02", "OFF-1"),
        ("2022-03-02", "TEC-1"),
    ]
    stapler = rows["2022-03-01", "OFF-1"]
    # lines 2 and 4; line 5 (same day and product) was rejected and is not summed
    assert (stapler.units, stapler.revenue, stapler.source_lines, stapler.line_number) == (
        5,
        17.5,
        2,
        2,
    )
    assert stapler.unit_price == pytest.approx(3.5)
    assert stapler.store_id == "main"
    assert pd.isna(stapler.on_promotion)
    desk = rows["2022-03-01", "FUR-1"]
    assert (desk.units, desk.revenue, desk.unit_price, desk.source_lines, desk.line_number) == (
        1,
        200,
        200,
        1,
        3,
    )
    phone = rows["2022-03-02", "TEC-1"]
    assert (phone.units, phone.source_lines, phone.line_number) == (5, 2, 7)
    assert math.isnan(phone.revenue) and math.isnan(phone.unit_price)
    # the product's latest line gives its name on every day: one name per product
    assert daily.loc[daily["product_id"] == "OFF-1", "product_name"].tolist() == [
        "Stapler, red",
        "Stapler, red",
    ]
    assert daily.groupby("product_id")["product_name"].nunique().max() == 1
    assert daily["units"].sum() == 3 + 1 + 2 + 1 + 2 + 3


def _promo_mapping(grain="transaction"):
    return ColumnMapping(
        name="promo",
        grain=grain,
        columns={
            "Day": "date",
            "SKU": "product_id",
            "Name": "product_name",
            "Group": "category",
            "Qty": "units",
            "Price": "unit_price",
            "Amount": "revenue",
            "Promo": "on_promotion",
        },
    )


def test_unit_price_and_promotion_aggregation(sales_contract):
    data = (
        b"Day,SKU,Name,Group,Qty,Price,Amount,Promo\n"  # 1
        b"2022-03-01,A,a,g,2,5,10,no\n"  # 2
        b"2022-03-01,A,a,g,-2,4,-8,yes\n"  # 3: units sum to 0 -> mean unit_price
        b"2022-03-01,B,b,g,2,3,6,no\n"  # 4
        b"2022-03-01,B,b,g,1,,,\n"  # 5: a line without revenue -> mean unit_price
        b"2022-03-01,C,c1,g,4,1,8,\n"  # 6
        b"2022-03-01,C,c2,h,4,3,,\n"  # 7: last line of C: name and category win; no promo
        b"2022-03-01,D,d,g,1,2,2,\n"  # 8
    )
    _, outcome = check_upload(data, "x.csv", sales_contract, as_of=AS_OF, mapping=_promo_mapping())
    assert outcome.success
    daily = outcome.accepted.set_index("product_id")
    assert daily["units"].to_dict() == {"A": 0, "B": 3, "C": 8, "D": 1}
    assert daily["revenue"].to_dict() == {"A": 2, "B": 6, "C": 8, "D": 2}
    assert daily["unit_price"].to_dict() == {"A": 4.5, "B": 3, "C": 2, "D": 2}
    assert daily["on_promotion"].dtype == "boolean"
    assert daily["on_promotion"].tolist()[:2] == [True, False]
    assert pd.isna(daily.loc["C", "on_promotion"]) and pd.isna(daily.loc["D", "on_promotion"])
    assert (daily.loc["C", "product_name"], daily.loc["C", "category"]) == ("c2", "h")
    assert daily["line_number"].to_dict() == {"A": 2, "B": 4, "C": 6, "D": 8}
    assert daily["source_lines"].to_dict() == {"A": 2, "B": 2, "C": 2, "D": 1}


def test_daily_grain_mapping_keeps_the_unique_key_rule(sales_contract):
    data = b"Day,SKU,Group,Qty\n2022-03-01,A,g,1\n2022-03-01,A,g,2\n2022-03-01,B,g,2\n"
    _, outcome = check_upload(
        data, "x.csv", sales_contract, as_of=AS_OF, mapping=_promo_mapping("daily")
    )
    assert _rejections(outcome) == [(2, None, None, "unique_key"), (3, None, None, "unique_key")]
    assert outcome.accepted["source_lines"].tolist() == [1]
    assert outcome.daily_rows == outcome.rows_accepted == 1


def test_daily_files_get_source_lines_one(sales_contract):
    data = b"date,product_id,category,units\n2022-03-01,A,g,1\n2022-03-01,B,g,2\n"
    _, outcome = check_upload(data, "sales.csv", sales_contract, as_of=AS_OF)
    assert outcome.accepted["source_lines"].tolist() == [1, 1]
    assert outcome.daily_rows == outcome.rows_accepted == 2


def test_validate_frame_without_unique_key_accepts_shared_keys(sales_contract):
    frame = pd.DataFrame(
        {
            "date": ["2022-03-01", "2022-03-01"],
            "product_id": ["A", "A"],
            "category": ["g", "g"],
            "units": ["1", "2"],
            "line_number": [2, 3],
        }
    )
    checked = validate_frame(sales_contract, frame, as_of=AS_OF)
    assert checked.rejection_summary() == {"unique_key": 2}
    unchecked = validate_frame(sales_contract, frame, as_of=AS_OF, check_unique_key=False)
    assert unchecked.success and unchecked.rows_accepted == 2
    assert "unique_key" not in {r["rule"] for r in unchecked.expectation_results}
    daily = aggregate_to_daily(unchecked.accepted, sales_contract)
    assert daily[["units", "line_number", "source_lines"]].values.tolist() == [[3, 2, 2]]


def test_aggregation_of_nothing_accepted(superstore, sales_contract):
    data = (HEADER + "\n" + _line(1, "2022-03-01", "P", "c", "n", "1", "x") + "\n").encode()
    _, outcome = check_upload(data, "o.csv", sales_contract, as_of=AS_OF, mapping=superstore)
    assert (outcome.rows_read, outcome.rows_rejected, outcome.daily_rows) == (1, 1, 0)
    assert list(outcome.accepted.columns)[-2:] == ["line_number", "source_lines"]


# ------------------------------------------------------- the profile's format


def _write(directory, name, text):
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_mapping_key_is_an_error(tmp_path):
    _write(tmp_path, "shop.yaml", "name: shop\ngrian: transaction\ncolumns: {Qty: units}\n")
    with pytest.raises(InvalidMappingError, match="grian"):
        load_mappings(tmp_path)
    with pytest.raises(ValidationError, match="grian"):
        ColumnMapping(name="shop", grian="transaction", columns={"Qty": "units"})


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ({"Qty": "quantity"}, "not a column of contract 'sales_upload'"),
        ({"Qty": "units", "Count": "units"}, "both mapped to 'units'"),
        ({"Qty": "units", " qty": "revenue"}, "same header"),
        ({}, "at least 1"),
    ],
)
def test_invalid_columns(columns, problem):
    with pytest.raises(ValidationError, match=problem):
        ColumnMapping(name="shop", columns=columns)


def test_invalid_grain_and_name_mismatch(tmp_path):
    with pytest.raises(ValidationError, match="grain"):
        ColumnMapping(name="shop", grain="weekly", columns={"Qty": "units"})
    _write(tmp_path, "shop.yaml", "name: other\ncolumns: {Qty: units}\n")
    with pytest.raises(InvalidMappingError, match="declares name 'other'"):
        load_mappings(tmp_path)


def test_mapping_for_globs(tmp_path):
    _write(
        tmp_path,
        "b_superstore.yaml",
        "name: b_superstore\nmatch: ['superstore/*', '*superstore*']\ngrain: transaction\n"
        "columns: {Quantity: units}\n",
    )
    _write(tmp_path, "a_shop.yaml", "name: a_shop\nmatch: ['shop/*.csv']\ncolumns: {Qty: units}\n")
    _write(tmp_path, "c_all.yaml", "name: c_all\nmatch: '*'\ncolumns: {Qty: units}\n")
    mappings = load_mappings(tmp_path)
    assert [m.name for m in mappings] == ["a_shop", "b_superstore", "c_all"]

    def name(key):
        found = mapping_for(key, mappings)
        return found.name if found else None

    assert name("superstore/orders.csv") == "b_superstore"
    assert name("SuperStore/2024/Orders.CSV") == "b_superstore"  # case-insensitive, * spans /
    assert name("exports/my_SUPERSTORE_export.xlsx") == "b_superstore"
    assert name("/superstore/orders.csv") == "b_superstore"
    assert name("shop/sales.csv") == "a_shop"  # first match in file-name order
    assert name("other/sales.csv") == "c_all"
    assert mapping_for("other/sales.csv", mappings[:2]) is None
    assert mapping_for("superstore/orders.csv", []) is None


def test_repository_profiles_do_not_claim_ordinary_uploads():
    assert mapping_for("shop-1/2024-03-31.csv", load_mappings()) is None
