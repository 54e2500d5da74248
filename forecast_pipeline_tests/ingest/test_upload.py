"""End to end: file bytes -> parsed rows -> GX validation -> accepted rows and rejections."""

import datetime as dt

import pytest

from forecast_pipeline.contracts import validate_frame
from forecast_pipeline.ingest import UploadRejected, check_upload, read_upload

AS_OF = dt.date(2024, 3, 31)


def _rejections(outcome):
    return [
        (r.line_number, r.column, r.value, r.rule)
        for r in outcome.rejections.itertuples(index=False)
    ]


def test_clean_single_store_file_is_accepted_entirely(sales_contract):
    data = (
        b"date,product_id,product_name,category,units,unit_price,on_promotion\n"
        b"2024-03-01,P1,Apple juice,drinks,3,1.50,no\n"
        b"2024-03-01,P2,Orange juice,drinks,0,2,yes\n"
        b"2024-03-02,P1,Apple juice,drinks,-2,1.50,no\n"
    )
    parsed, outcome = check_upload(data, "sales.csv", sales_contract, as_of=AS_OF)
    assert (parsed.format, parsed.encoding, parsed.delimiter) == ("csv", "utf-8", ",")
    assert outcome.success
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (3, 3, 0)
    accepted = outcome.accepted
    assert accepted["store_id"].tolist() == ["main", "main", "main"]
    assert accepted["units"].tolist() == [3, 0, -2]
    assert accepted["units"].dtype == "int64"
    assert accepted["on_promotion"].tolist() == [False, True, False]
    assert accepted["line_number"].tolist() == [2, 3, 4]


def test_bad_rows_are_rejected_with_their_line_column_and_rule(sales_contract):
    data = (
        "Date;Store_ID;Product_ID;Product_Name;Category;Units\n"  # 1
        '2024-03-01;s1;P1;"Crème\nbrûlée";desserts;3\n'  # 2-3
        "2024-02-30;s1;P2;;desserts;1\n"  # 4 impossible date
        "01/03/2024;s1;P3;;desserts;1\n"  # 5 non-ISO date
        "2024-03-01;s1;P4;;desserts;three\n"  # 6 non-numeric units
        "2024-03-01;s1;P5;;desserts;5000000\n"  # 7 huge units
        "2024-03-01;s1;;;desserts;1\n"  # 8 missing product_id
        "2024-04-01;s1;P6;;desserts;1\n"  # 9 future date
        "2024-03-01;s1;P7;;desserts;1\n"  # 10 duplicate key ...
        "2024-03-01;s1;P7;;desserts;2\n"  # 11 ... of line 10
        "2024-03-01;s1;P8;desserts;1\n"  # 12 a field short
        "2024-03-01;;P9;;desserts;-7\n"  # 13 store defaults to main; a return
    ).encode()
    parsed, outcome = check_upload(data, "sales.csv", sales_contract, as_of=AS_OF)
    assert parsed.delimiter == ";"
    assert _rejections(outcome) == [
        (4, "date", "2024-02-30", "logicalType"),
        (5, "date", "01/03/2024", "logicalType"),
        (6, "units", "three", "logicalType"),
        (7, "units", "5000000", "mustBeBetween"),
        (8, "product_id", None, "required"),
        (9, "date", "2024-04-01", "mustNotBeInFuture"),
        (10, None, None, "unique_key"),
        (11, None, None, "unique_key"),
        (12, None, None, "field_count"),
    ]
    assert outcome.accepted["line_number"].tolist() == [2, 13]
    assert outcome.accepted["product_name"].tolist() == ["Crème\nbrûlée", None]
    assert outcome.accepted["store_id"].tolist() == ["s1", "main"]
    assert outcome.accepted["units"].tolist() == [3, -7]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (11, 2, 9)
    assert outcome.rows_read == outcome.rows_accepted + outcome.rows_rejected
    assert outcome.rejection_summary() == {
        "logicalType": 3,
        "unique_key": 2,
        "mustBeBetween": 1,
        "required": 1,
        "mustNotBeInFuture": 1,
        "field_count": 1,
    }


def test_latin1_tab_file_end_to_end(sales_contract):
    text = "date\tproduct_id\tproduct_name\tcategory\tunits\n2024-03-01\tP1\tCafé\tboissons\t2\n"
    parsed, outcome = check_upload(
        text.encode("latin-1"), "ventes.txt", sales_contract, as_of=AS_OF
    )
    assert parsed.delimiter == "\t"
    assert outcome.success
    assert outcome.accepted["product_name"].tolist() == ["Café"]


def test_future_dates_are_relative_to_as_of(sales_contract):
    data = b"date,product_id,category,units\n2024-04-01,P1,food,1\n"
    parsed = read_upload(data, "sales.csv", sales_contract)
    assert not validate_frame(sales_contract, parsed.frame, as_of=dt.date(2024, 3, 31)).success
    assert validate_frame(sales_contract, parsed.frame, as_of=dt.date(2024, 4, 1)).success


def test_only_malformed_rows(sales_contract):
    data = b"date,product_id,category,units\n2024-03-01,P1\n"
    _, outcome = check_upload(data, "sales.csv", sales_contract, as_of=AS_OF)
    assert _rejections(outcome) == [(2, None, None, "field_count")]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (1, 0, 1)


def test_missing_column_rejects_the_file(sales_contract):
    with pytest.raises(UploadRejected) as info:
        check_upload(
            b"date,product_id,units\n2024-03-01,P1,2\n", "s.csv", sales_contract, as_of=AS_OF
        )
    assert info.value.reason == "missing required columns: category"
