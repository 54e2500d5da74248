import datetime as dt
import io

import pandas as pd
import pytest

from forecast_pipeline.ingest import UploadRejected, read_upload
from forecast_pipeline.ingest.csv_files import decode, detect_delimiter

HEADER = "date,store_id,product_id,product_name,category,units,unit_price,revenue,on_promotion"


def test_plain_utf8_csv(sales_contract):
    data = (
        f"{HEADER}\n"
        "2024-03-01,s1,P1,Apple juice,drinks,3,1.5,4.5,false\n"
        "2024-03-01,s1,P2,,drinks,-1,,,\n"
    ).encode()
    parsed = read_upload(data, "sales.csv", sales_contract)
    assert (parsed.format, parsed.encoding, parsed.delimiter) == ("csv", "utf-8", ",")
    assert parsed.ignored_columns == []
    assert parsed.malformed == []
    frame = parsed.frame
    assert frame["line_number"].tolist() == [2, 3]
    assert frame.iloc[0].to_dict() == {
        "date": "2024-03-01",
        "store_id": "s1",
        "product_id": "P1",
        "product_name": "Apple juice",
        "category": "drinks",
        "units": "3",
        "unit_price": "1.5",
        "revenue": "4.5",
        "on_promotion": "false",
        "line_number": 2,
    }
    # empty fields become None, so that "missing" is distinguishable from a value
    assert frame.iloc[1][["product_name", "unit_price", "revenue", "on_promotion"]].isna().all()


def test_utf8_bom_is_removed_from_the_first_header(sales_contract):
    data = b"\xef\xbb\xbfdate,product_id,category,units\r\n2024-03-01,P1,food,2\r\n"
    parsed = read_upload(data, "sales.csv", sales_contract)
    assert parsed.encoding == "utf-8-sig"
    assert list(parsed.frame.columns) == ["date", "product_id", "category", "units", "line_number"]
    assert parsed.frame["date"].tolist() == ["2024-03-01"]


def test_latin1_product_names(sales_contract):
    text = "date;product_id;product_name;category;units\n2024-03-01;P1;Café crème;boissons;2\n"
    parsed = read_upload(text.encode("latin-1"), "ventes.csv", sales_contract)
    assert parsed.encoding in {"cp1252", "latin-1"}
    assert parsed.frame["product_name"].tolist() == ["Café crème"]


def test_cp1252_euro_sign(sales_contract):
    text = "date,product_id,product_name,category,units\n2024-03-01,P1,Gift card 10€,gifts,1\n"
    parsed = read_upload(text.encode("cp1252"), "sales.csv", sales_contract)
    assert parsed.encoding == "cp1252"
    assert parsed.frame["product_name"].tolist() == ["Gift card 10€"]


def test_utf16_with_bom(sales_contract):
    text = "date\tproduct_id\tcategory\tunits\n2024-03-01\tP1\tfood\t2\n"
    parsed = read_upload(text.encode("utf-16"), "export.txt", sales_contract)
    assert (parsed.encoding, parsed.delimiter) == ("utf-16", "\t")
    assert parsed.frame["units"].tolist() == ["2"]


def test_semicolon_delimiter_with_decimal_commas_kept_as_text(sales_contract):
    data = b"date;product_id;category;units;unit_price\n2024-03-01;P1;food;2;1,50\n"
    parsed = read_upload(data, "sales.csv", sales_contract)
    assert parsed.delimiter == ";"
    assert parsed.frame["unit_price"].tolist() == ["1,50"]


def test_tab_delimiter(sales_contract):
    data = b"date\tproduct_id\tcategory\tunits\n2024-03-01\tP1, large\tfood\t2\n"
    parsed = read_upload(data, "sales.tsv", sales_contract)
    assert parsed.delimiter == "\t"
    assert parsed.frame["product_id"].tolist() == ["P1, large"]


def test_delimiter_detection_prefers_the_one_that_finds_contract_columns(sales_contract):
    assert detect_delimiter("date;product_id;note, with comma;units", sales_contract) == ";"
    assert detect_delimiter('date,"product_id",category', sales_contract) == ","
    assert detect_delimiter("date\tunits", sales_contract) == "\t"
    assert detect_delimiter("nothing", sales_contract) == ","


def test_quoted_newline_keeps_following_line_numbers_right(sales_contract):
    data = (
        b"date,product_id,product_name,category,units\n"
        b'2024-03-01,P1,"Two-line\nname",food,1\n'
        b'2024-03-01,P2,"He said ""hi""",food,2\n'
        b'2024-03-01,P3,"three\r\nline\r\nname",food,3\n'
        b"2024-03-01,P4,plain,food,4\n"
    )
    parsed = read_upload(data, "sales.csv", sales_contract)
    frame = parsed.frame
    assert frame["product_id"].tolist() == ["P1", "P2", "P3", "P4"]
    assert frame["line_number"].tolist() == [2, 4, 5, 8]
    assert frame["product_name"].tolist() == [
        "Two-line\nname",
        'He said "hi"',
        "three\r\nline\r\nname",
        "plain",
    ]


def test_header_matching_is_case_insensitive_and_extra_columns_are_ignored(sales_contract):
    data = b" Date , PRODUCT_ID,Category,Units,Notes,\n2024-03-01,P1,food,2,hello,\n"
    parsed = read_upload(data, "sales.csv", sales_contract)
    assert parsed.columns == {
        "date": "Date",
        "product_id": "PRODUCT_ID",
        "category": "Category",
        "units": "Units",
    }
    assert parsed.ignored_columns == ["Notes"]
    assert "Notes" not in parsed.frame.columns
    assert "store_id" not in parsed.frame.columns


def test_values_are_stripped(sales_contract):
    data = b"date,product_id,category,units\n 2024-03-01 ,  P1,food ,   \n"
    frame = read_upload(data, "sales.csv", sales_contract).frame
    assert frame.iloc[0][["date", "product_id", "category"]].tolist() == [
        "2024-03-01",
        "P1",
        "food",
    ]
    assert frame.iloc[0]["units"] is None


def test_wrong_field_count_is_a_row_problem(sales_contract):
    data = (
        b"date,product_id,category,units\n"
        b"2024-03-01,P1,food,1\n"
        b"2024-03-01,P2,food\n"
        b"2024-03-01,P3,food,3,extra\n"
        b"2024-03-01,P4,food,4\n"
    )
    parsed = read_upload(data, "sales.csv", sales_contract)
    # malformed records stay in the frame (so that they are counted), flagged and empty
    assert parsed.frame["line_number"].tolist() == [2, 3, 4, 5]
    assert parsed.frame["_malformed"].notna().tolist() == [False, True, True, False]
    assert parsed.frame["product_id"].tolist() == ["P1", None, None, "P4"]
    assert [(m.line_number, m.rule, m.message) for m in parsed.malformed] == [
        (3, "field_count", "expected 4 fields, found 3"),
        (4, "field_count", "expected 4 fields, found 5"),
    ]
    assert parsed.rows_read == 4


def test_unbalanced_quote_rejects_its_line_and_reading_resumes(sales_contract):
    data = b'date,product_id,category,units\n2024-03-01,"P1,food,1\n2024-03-01,P2,food,2\n'
    parsed = read_upload(data, "sales.csv", sales_contract)
    (problem,) = parsed.malformed
    assert problem.line_number == 2
    assert "unbalanced quote" in problem.message and "lines 2-3" in problem.message
    assert parsed.frame["line_number"].tolist() == [2, 3]
    assert parsed.frame["product_id"].tolist() == [None, "P2"]


def test_regular_and_careful_readers_agree(sales_contract):
    rows = "".join(f"2024-03-{d:02d}, P{d} ,food,{d}\n" for d in range(1, 29))
    regular = read_upload(
        b"date,product_id,category,units\n" + rows.encode(), "a.csv", sales_contract
    )
    # a quoted line break sends the same rows through the csv-module reader
    careful = read_upload(
        b'date,product_id,category,units\n2024-02-29,"P\n0",food,1\n' + rows.encode(),
        "a.csv",
        sales_contract,
    )
    pd.testing.assert_frame_equal(
        regular.frame.reset_index(drop=True),
        careful.frame.iloc[1:]
        .reset_index(drop=True)
        .assign(line_number=lambda f: f["line_number"] - 2),
    )
    assert regular.frame["product_id"].iloc[0] == "P1"  # stripped like the careful reader


def test_blank_lines_are_skipped_but_counted_in_line_numbers(sales_contract):
    data = b"date,product_id,category,units\n\n2024-03-01,P1,food,1\n,,,\n\n2024-03-01,P2,food,2\n"
    parsed = read_upload(data, "sales.csv", sales_contract)
    assert parsed.frame["line_number"].tolist() == [3, 6]
    assert parsed.blank_records == 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"date,product_id,category,units\n", "the file has a header but no data rows"),
        (b"date,product_id,category,units\n\n,,,\n", "the file has a header but no data rows"),
        (b"date,product_id\n2024-03-01,P1\n", "missing required columns: category, units"),
        (
            b"date;store;sku;qty\n2024-03-01;s;P;1\n",
            "missing required columns: product_id, category, units",
        ),
        (
            b"date,product_id,category,units,UNITS\n",
            "column 'units' appears twice in the header (as 'units' and 'UNITS')",
        ),
        (b"\x00\x01\x02date", "the file contains NUL bytes: it is not a CSV text file"),
    ],
)
def test_file_level_rejections(sales_contract, data, reason):
    with pytest.raises(UploadRejected) as info:
        read_upload(data, "sales.csv", sales_contract)
    assert info.value.reason == reason


def test_legacy_xls_is_rejected(sales_contract):
    with pytest.raises(UploadRejected, match=r"\.xls files are not supported"):
        read_upload(b"\xd0\xcf\x11\xe0 binary", "sales.xls", sales_contract)


def test_decode_fallbacks():
    assert decode("é".encode()) == ("é", "utf-8")
    assert decode("é".encode("cp1252")) == ("é", "cp1252")
    # 0x81 is undefined in cp1252: Latin-1 is the last resort and never fails
    assert decode(b"a\x81") == ("a\x81", "latin-1")


def test_xlsx(sales_contract):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(
        ["Date", "Product_ID", "Category", "Units", "Unit_Price", "On_Promotion", "Comment"]
    )
    sheet.append([dt.datetime(2024, 3, 1), "P1", "food", 3, 1.5, True, "x"])
    sheet.append([None, None, None, None, None, None, None])
    sheet.append(["2024-03-02", 1042, "food", 4.0, None, False, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = read_upload(buffer.getvalue(), "sales.xlsx", sales_contract)
    assert (parsed.format, parsed.encoding, parsed.delimiter) == ("xlsx", None, None)
    assert parsed.ignored_columns == ["Comment"]
    frame = parsed.frame
    assert frame["line_number"].tolist() == [2, 4]
    assert frame["date"].tolist() == ["2024-03-01", "2024-03-02"]
    assert frame["product_id"].tolist() == ["P1", "1042"]
    assert frame["units"].tolist() == ["3", "4"]
    assert frame["unit_price"].tolist() == ["1.5", None]
    assert frame["on_promotion"].tolist() == ["true", "false"]


def test_xlsx_header_only(sales_contract):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    workbook.active.append(["date", "product_id", "category", "units"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(UploadRejected, match="header but no data rows"):
        read_upload(buffer.getvalue(), "sales.xlsx", sales_contract)


def test_parquet(sales_contract):
    pytest.importorskip("pyarrow")
    table = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-03-01", "2024-03-02"]),
            "product_id": ["P1", "P2"],
            "category": ["food", "food"],
            "units": [3, -2],
            "unit_price": [1.5, None],
            "on_promotion": [True, False],
        }
    )
    buffer = io.BytesIO()
    table.to_parquet(buffer)
    parsed = read_upload(buffer.getvalue(), "sales.parquet", sales_contract)
    assert parsed.format == "parquet"
    frame = parsed.frame
    assert frame["line_number"].tolist() == [2, 3]
    assert frame["date"].tolist() == ["2024-03-01", "2024-03-02"]
    assert frame["units"].tolist() == ["3", "-2"]
    assert frame["unit_price"].tolist() == ["1.5", None]
    assert frame["on_promotion"].tolist() == ["true", "false"]


def test_format_detected_from_content_without_extension(sales_contract):
    pytest.importorskip("pyarrow")
    buffer = io.BytesIO()
    pd.DataFrame(
        {"date": ["2024-03-01"], "product_id": ["P"], "category": ["c"], "units": [1]}
    ).to_parquet(buffer)
    assert read_upload(buffer.getvalue(), "upload", sales_contract).format == "parquet"
    assert (
        read_upload(
            b"date,product_id,category,units\n2024-03-01,P,c,1\n", "upload", sales_contract
        ).format
        == "csv"
    )
