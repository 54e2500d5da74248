"""Pydantic models of a data contract (a subset of ODCS v3, see data_contracts/README.md)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forecast_pipeline.contracts.coercion import coerce_scalar

LogicalType = Literal["string", "integer", "number", "boolean", "date", "timestamp"]

#: Column-level library rules this project executes (see README.md).
COLUMN_RULES: dict[str, tuple[LogicalType, ...]] = {
    "mustBeBetween": ("integer", "number"),
    "mustBeGreaterThanOrEqualTo": ("integer", "number"),
    "mustBeLessThanOrEqualTo": ("integer", "number"),
    "validValues": ("string", "integer", "number"),
    "mustNotBeInFuture": ("date",),
}
#: Object-level library rules this project executes.
OBJECT_RULES: tuple[str, ...] = ("uniqueCombination",)

# ODCS v3 spells the comparison operators without "Than"; both spellings are accepted.
_RULE_ALIASES = {
    "mustBeGreaterOrEqualTo": "mustBeGreaterThanOrEqualTo",
    "mustBeLessOrEqualTo": "mustBeLessThanOrEqualTo",
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)

Number = int | float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class QualityRule(_Model):
    """One quality rule, ODCS "library" style: ``rule`` names it, a key of the same name
    holds its parameter (``- rule: mustBeBetween`` / ``mustBeBetween: [0, 10]``).

    ``type: text`` rules are documentation only and are not executed.
    """

    type: Literal["library", "text"] = "library"
    rule: str | None = None
    name: str | None = None
    description: str | None = None
    dimension: str | None = None
    severity: str | None = None
    must_be_between: tuple[Number, Number] | None = Field(None, alias="mustBeBetween")
    must_be_greater_than_or_equal_to: Number | None = Field(
        None, alias="mustBeGreaterThanOrEqualTo"
    )
    must_be_less_than_or_equal_to: Number | None = Field(None, alias="mustBeLessThanOrEqualTo")
    valid_values: tuple[str | int | float, ...] | None = Field(None, alias="validValues")
    must_not_be_in_future: bool | None = Field(None, alias="mustNotBeInFuture")
    columns: tuple[str, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_odcs_spellings(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for odcs, ours in _RULE_ALIASES.items():
            if data.get("rule") == odcs:
                data["rule"] = ours
            if odcs in data and ours not in data:
                data[ours] = data.pop(odcs)
        return data

    @model_validator(mode="after")
    def _check_parameters(self) -> QualityRule:
        if self.type == "text":
            return self
        if self.rule is None:
            raise ValueError("a library quality rule needs a 'rule'")
        known = (*COLUMN_RULES, *OBJECT_RULES)
        if self.rule not in known:
            raise ValueError(f"unknown rule {self.rule!r}; supported rules: {', '.join(known)}")
        parameter = {
            "mustBeBetween": self.must_be_between,
            "mustBeGreaterThanOrEqualTo": self.must_be_greater_than_or_equal_to,
            "mustBeLessThanOrEqualTo": self.must_be_less_than_or_equal_to,
            "validValues": self.valid_values,
            "mustNotBeInFuture": self.must_not_be_in_future,
            "uniqueCombination": self.columns,
        }[self.rule]
        if parameter is None:
            key = "columns" if self.rule == "uniqueCombination" else self.rule
            raise ValueError(f"rule {self.rule!r} needs the key {key!r}")
        if self.must_be_between is not None and self.must_be_between[0] > self.must_be_between[1]:
            raise ValueError(f"mustBeBetween: lower bound above upper bound {self.must_be_between}")
        if self.rule == "validValues" and not self.valid_values:
            raise ValueError("validValues needs at least one value")
        if self.rule == "uniqueCombination" and len(self.columns or ()) < 1:
            raise ValueError("uniqueCombination needs at least one column")
        return self

    @property
    def rule_id(self) -> str:
        """Identifier reported in rejections: the rule's ``name`` if set, else ``rule``."""
        return self.name or self.rule or "text"

    @property
    def executable(self) -> bool:
        return self.type == "library"


class Property(_Model):
    """One column of the dataset."""

    name: str
    logical_type: LogicalType = Field(alias="logicalType")
    required: bool = False
    unique: bool = False
    description: str | None = None
    physical_name: str | None = Field(None, alias="physicalName")
    physical_type: str | None = Field(None, alias="physicalType")
    default_value: str | int | float | bool | None = Field(None, alias="defaultValue")
    primary_key: bool = Field(False, alias="primaryKey")
    primary_key_position: int | None = Field(None, alias="primaryKeyPosition")
    examples: tuple[str | int | float | bool, ...] | None = None
    tags: tuple[str, ...] = ()
    quality: tuple[QualityRule, ...] = ()

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(
                f"column name {value!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Property:
        for rule in self.quality:
            if not rule.executable:
                continue
            if rule.rule in OBJECT_RULES:
                raise ValueError(f"rule {rule.rule!r} belongs on the schema object, not a column")
            allowed = COLUMN_RULES[rule.rule or ""]
            if self.logical_type not in allowed:
                raise ValueError(
                    f"rule {rule.rule!r} does not apply to logicalType {self.logical_type!r} "
                    f"(only {', '.join(allowed)})"
                )
        if self.default_value is not None:
            try:
                coerce_scalar(self.logical_type, self.default_string)
            except ValueError as exc:
                raise ValueError(f"defaultValue: {exc}") from None
        return self

    @property
    def default_string(self) -> str | None:
        """``defaultValue`` as the string a file would contain (booleans as true/false)."""
        if self.default_value is None:
            return None
        if isinstance(self.default_value, bool):
            return "true" if self.default_value else "false"
        return str(self.default_value)

    @property
    def rules(self) -> tuple[QualityRule, ...]:
        """Executable quality rules."""
        return tuple(rule for rule in self.quality if rule.executable)


class SchemaObject(_Model):
    """The table (ODCS "schema object") the contract describes."""

    name: str
    physical_name: str | None = Field(None, alias="physicalName")
    logical_type: Literal["object"] = Field("object", alias="logicalType")
    physical_type: str | None = Field(None, alias="physicalType")
    description: str | None = None
    tags: tuple[str, ...] = ()
    properties: tuple[Property, ...]
    quality: tuple[QualityRule, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> SchemaObject:
        if not self.properties:
            raise ValueError("a schema object needs at least one property")
        names = [p.name.lower() for p in self.properties]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate property names (case-insensitive): {duplicates}")
        for rule in self.quality:
            if not rule.executable:
                continue
            if rule.rule not in OBJECT_RULES:
                raise ValueError(f"rule {rule.rule!r} is a column rule, not a schema-object rule")
            unknown = [c for c in rule.columns or () if c not in {p.name for p in self.properties}]
            if unknown:
                raise ValueError(f"rule {rule.rule_id!r} names unknown columns {unknown}")
        return self

    @property
    def rules(self) -> tuple[QualityRule, ...]:
        return tuple(rule for rule in self.quality if rule.executable)


class ContractDescription(_Model):
    purpose: str | None = None
    usage: str | None = None
    limitations: str | None = None


class DataContract(_Model):
    """A data contract: metadata plus exactly one schema object."""

    api_version: str = Field(alias="apiVersion")
    kind: Literal["DataContract"]
    id: str
    name: str
    version: str
    status: str
    domain: str | None = None
    data_product: str | None = Field(None, alias="dataProduct")
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    description: ContractDescription | None = None
    schema_objects: tuple[SchemaObject, ...] = Field(alias="schema")

    @field_validator("api_version")
    @classmethod
    def _v3(cls, value: str) -> str:
        if not value.startswith("v3."):
            raise ValueError(f"unsupported apiVersion {value!r} (expected ODCS v3.x.y)")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"id {value!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        return value

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not _SEMVER.match(str(value)):
            raise ValueError(f"version {value!r} is not semantic (MAJOR.MINOR.PATCH)")
        return value

    @field_validator("schema_objects")
    @classmethod
    def _one_object(cls, value: tuple[SchemaObject, ...]) -> tuple[SchemaObject, ...]:
        if len(value) != 1:
            raise ValueError(f"exactly one schema object is supported, got {len(value)}")
        return value

    @property
    def table(self) -> SchemaObject:
        return self.schema_objects[0]

    @property
    def properties(self) -> tuple[Property, ...]:
        return self.table.properties

    @property
    def column_names(self) -> list[str]:
        return [p.name for p in self.properties]

    @property
    def required_columns(self) -> list[str]:
        return [p.name for p in self.properties if p.required]

    def column(self, name: str) -> Property:
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise KeyError(f"contract {self.id!r} has no column {name!r}")

    @property
    def unique_key(self) -> tuple[str, ...] | None:
        """Columns of the first ``uniqueCombination`` rule, else the primary key, else None."""
        for rule in self.table.rules:
            if rule.rule == "uniqueCombination":
                return tuple(rule.columns or ())
        keyed = [p for p in self.properties if p.primary_key]
        if keyed:
            keyed.sort(key=lambda p: p.primary_key_position or 0)
            return tuple(p.name for p in keyed)
        return None
