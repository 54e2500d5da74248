from pathlib import Path

import pytest
import yaml

from forecast_pipeline.contracts import (
    ContractNotFoundError,
    InvalidContractError,
    contracts_dir,
    load_all_contracts,
    load_contract,
)

MINIMAL = {
    "apiVersion": "v3.0.2",
    "kind": "DataContract",
    "id": "tiny",
    "name": "Tiny",
    "version": "0.1.0",
    "status": "draft",
    "schema": [
        {
            "name": "tiny",
            "properties": [
                {"name": "k", "logicalType": "string", "required": True},
                {
                    "name": "n",
                    "logicalType": "integer",
                    "quality": [{"rule": "mustBeBetween", "mustBeBetween": [0, 5]}],
                },
            ],
        }
    ],
}


def _write(directory: Path, name: str, document: object) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _variant(**changes: object) -> dict:
    document = yaml.safe_load(yaml.safe_dump(MINIMAL))
    document.update(changes)
    return document


def test_contracts_dir_is_the_repository_folder():
    assert contracts_dir() == Path(__file__).resolve().parents[2] / "data_contracts"
    assert (contracts_dir() / "sales_upload.yaml").is_file()


def test_sales_upload_contract_metadata(sales_contract):
    assert sales_contract.id == "sales_upload"
    assert sales_contract.api_version == "v3.0.2"
    assert sales_contract.kind == "DataContract"
    assert sales_contract.version == "1.0.0"
    assert sales_contract.description is not None and sales_contract.description.purpose
    assert sales_contract.table.name == "sales_upload"
    assert sales_contract.column_names == [
        "date",
        "store_id",
        "product_id",
        "product_name",
        "category",
        "units",
        "unit_price",
        "revenue",
        "on_promotion",
    ]
    assert sales_contract.required_columns == ["date", "product_id", "category", "units"]
    assert sales_contract.unique_key == ("date", "store_id", "product_id")


def test_sales_upload_columns(sales_contract):
    types = {p.name: p.logical_type for p in sales_contract.properties}
    assert types == {
        "date": "date",
        "store_id": "string",
        "product_id": "string",
        "product_name": "string",
        "category": "string",
        "units": "integer",
        "unit_price": "number",
        "revenue": "number",
        "on_promotion": "boolean",
    }
    store = sales_contract.column("store_id")
    assert not store.required and store.default_string == "main"
    units = sales_contract.column("units")
    assert [(r.rule, r.must_be_between) for r in units.rules] == [
        ("mustBeBetween", (-100000, 1000000))
    ]
    price = sales_contract.column("unit_price")
    assert [(r.rule, r.must_be_greater_than_or_equal_to) for r in price.rules] == [
        ("mustBeGreaterThanOrEqualTo", 0)
    ]
    assert [r.rule for r in sales_contract.column("date").rules] == ["mustNotBeInFuture"]
    (key_rule,) = sales_contract.table.rules
    assert key_rule.rule_id == "unique_key"
    assert key_rule.columns == ("date", "store_id", "product_id")


def test_load_all_contracts_includes_sales_upload():
    ids = [c.id for c in load_all_contracts()]
    assert "sales_upload" in ids
    assert ids == sorted(ids)


def test_load_by_id_from_other_directory(tmp_path):
    _write(tmp_path, "whatever_file_name", MINIMAL)
    contract = load_contract("tiny", tmp_path)
    assert contract.id == "tiny"
    assert [c.id for c in load_all_contracts(tmp_path)] == ["tiny"]


def test_unknown_contract_lists_available(tmp_path):
    _write(tmp_path, "tiny", MINIMAL)
    with pytest.raises(ContractNotFoundError, match=r"'nope'.*available: tiny"):
        load_contract("nope", tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(ContractNotFoundError, match="does not exist"):
        load_contract("tiny", tmp_path / "absent")


def test_invalid_yaml(tmp_path):
    (tmp_path / "tiny.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(InvalidContractError, match="not valid YAML"):
        load_contract("tiny", tmp_path)


def test_file_name_and_id_must_agree(tmp_path):
    _write(tmp_path, "other", MINIMAL)
    with pytest.raises(InvalidContractError, match="declares id 'tiny'"):
        load_contract("other", tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": "1.0"}, "not semantic"),
        ({"apiVersion": "v2.2.0"}, "unsupported apiVersion"),
        ({"kind": "Contract"}, "kind"),
        ({"schema": []}, "exactly one schema object"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_invalid_top_level(tmp_path, changes, message):
    _write(tmp_path, "tiny", _variant(**changes))
    with pytest.raises(InvalidContractError, match=message):
        load_contract("tiny", tmp_path)


@pytest.mark.parametrize(
    ("prop", "message"),
    [
        ({"name": "x", "logicalType": "text"}, "logicalType"),
        ({"name": "x", "logicalType": "string", "requird": True}, "requird"),
        (
            {"name": "x", "logicalType": "integer", "quality": [{"rule": "mustBeBetween"}]},
            "needs the key 'mustBeBetween'",
        ),
        (
            {
                "name": "x",
                "logicalType": "integer",
                "quality": [{"rule": "mustBeBetween", "mustBeBetween": [5, 1]}],
            },
            "lower bound above upper bound",
        ),
        (
            {"name": "x", "logicalType": "string", "quality": [{"rule": "mustBeNice"}]},
            "unknown rule 'mustBeNice'",
        ),
        (
            {
                "name": "x",
                "logicalType": "string",
                "quality": [{"rule": "mustNotBeInFuture", "mustNotBeInFuture": True}],
            },
            "does not apply to logicalType 'string'",
        ),
        ({"name": "x", "logicalType": "integer", "defaultValue": "many"}, "defaultValue"),
        ({"name": "k", "logicalType": "string"}, "duplicate property names"),
    ],
)
def test_invalid_property(tmp_path, prop, message):
    document = _variant()
    document["schema"][0]["properties"].append(prop)
    _write(tmp_path, "tiny", document)
    with pytest.raises(InvalidContractError, match=message):
        load_contract("tiny", tmp_path)


def test_object_rule_must_name_existing_columns(tmp_path):
    document = _variant()
    document["schema"][0]["quality"] = [{"rule": "uniqueCombination", "columns": ["k", "zz"]}]
    _write(tmp_path, "tiny", document)
    with pytest.raises(InvalidContractError, match=r"unknown columns \['zz'\]"):
        load_contract("tiny", tmp_path)


def test_odcs_operator_spelling_is_accepted(tmp_path):
    document = _variant()
    document["schema"][0]["properties"].append(
        {
            "name": "p",
            "logicalType": "number",
            "quality": [{"rule": "mustBeGreaterOrEqualTo", "mustBeGreaterOrEqualTo": 1}],
        }
    )
    _write(tmp_path, "tiny", document)
    (rule,) = load_contract("tiny", tmp_path).column("p").rules
    assert rule.rule == "mustBeGreaterThanOrEqualTo"
    assert rule.must_be_greater_than_or_equal_to == 1


def test_text_rules_are_not_executed(tmp_path):
    document = _variant()
    document["schema"][0]["properties"][0]["quality"] = [
        {"type": "text", "description": "should look like a SKU"}
    ]
    _write(tmp_path, "tiny", document)
    assert load_contract("tiny", tmp_path).column("k").rules == ()


def test_all_repository_contracts_are_valid():
    for contract in load_all_contracts():
        assert contract.properties
