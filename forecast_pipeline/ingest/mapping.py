"""Column-mapping profiles: how a known export's headers map to a contract's columns.

A profile is a YAML file in ``data_contracts/mappings/`` (format in
``data_contracts/README.md``, section *Column mappings*)::

    name: superstore
    description: Tableau "Sample - Superstore" order lines
    match: ["superstore/*", "*superstore*"]
    grain: transaction
    columns:
      Order Date: date
      Product ID: product_id

``mapping_for(landing_key, load_mappings())`` picks the profile of an uploaded file
from its path in the landing zone; ``read_upload`` / ``check_upload`` apply it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from forecast_pipeline.contracts.errors import ContractNotFoundError, InvalidContractError
from forecast_pipeline.contracts.loader import contracts_dir, load_contract
from forecast_pipeline.contracts.model import DataContract

_SUFFIXES = (".yaml", ".yml")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

Grain = Literal["daily", "transaction"]


class InvalidMappingError(InvalidContractError):
    """A mapping profile is not valid YAML or breaks the mapping format."""


def normalize_header(name: str) -> str:
    """How headers are compared: stripped (also of a BOM) and case-folded."""
    return name.strip().lstrip("\ufeff").strip().casefold()


def mappings_dir() -> Path:
    """The repository's ``data_contracts/mappings`` folder."""
    return contracts_dir() / "mappings"


class ColumnMapping(BaseModel):
    """One mapping profile. Unknown keys are errors (a typo must not silently drop a column).

    ``columns`` maps a header as written in the file to a column of ``contract``
    (headers are matched case-insensitively and after stripping). Contract columns
    that are not a target keep matching a header of their own name; a header of
    the same name as a target column is ignored (the mapping says where that
    column comes from). Targets are checked against the contract given in the
    validation context (``{"contract": DataContract}``), else against the contract
    loaded by id from ``data_contracts/``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str | None = None
    contract: str = "sales_upload"
    #: fnmatch globs on the landing key, case-insensitive; ``*`` also matches ``/``
    match: tuple[str, ...] = ()
    #: ``daily``: one line per (date, store_id, product_id), as the contract says;
    #: ``transaction``: order lines, aggregated to that grain after validation
    grain: Grain = "daily"
    columns: dict[str, str] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid mapping name (letters, digits, _ . -; "
                "it is the file name without .yaml)"
            )
        return value

    @field_validator("match", mode="before")
    @classmethod
    def _one_pattern(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("match")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        patterns = tuple(p.strip() for p in value)
        if any(not p for p in patterns):
            raise ValueError("match patterns must not be empty")
        return patterns

    @field_validator("columns")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        result: dict[str, str] = {}
        seen: dict[str, str] = {}
        for raw_header, target in value.items():
            header = raw_header.strip()
            if not header:
                raise ValueError("a header must not be empty")
            key = normalize_header(header)
            if key in seen:
                raise ValueError(
                    f"headers {seen[key]!r} and {header!r} are the same header "
                    "(headers are matched case-insensitively)"
                )
            seen[key] = header
            result[header] = target.strip()
        targets: dict[str, str] = {}
        for header, target in result.items():
            if target in targets:
                raise ValueError(
                    f"headers {targets[target]!r} and {header!r} are both mapped to {target!r}"
                )
            targets[target] = header
        return result

    @model_validator(mode="after")
    def _targets_are_contract_columns(self, info: ValidationInfo) -> ColumnMapping:
        contract = (info.context or {}).get("contract") if info is not None else None
        if contract is None:
            try:
                contract = load_contract(self.contract)
            except ContractNotFoundError as exc:
                raise ValueError(f"contract: {exc}") from None
        elif contract.id != self.contract:
            raise ValueError(f"the mapping is for contract {self.contract!r}, not {contract.id!r}")
        check_targets(self, contract)
        return self

    # ------------------------------------------------------------------ helpers

    @property
    def header_for(self) -> dict[str, str]:
        """Contract column -> the header the mapping reads it from."""
        return {column: header for header, column in self.columns.items()}

    def matches(self, landing_key: str) -> bool:
        """Whether one of the ``match`` globs matches the landing key (case-insensitive)."""
        key = _landing_key(landing_key)
        return any(fnmatchcase(key, pattern.casefold()) for pattern in self.match)


def check_targets(mapping: ColumnMapping, contract: DataContract) -> None:
    """Raise ValueError unless every target of ``mapping`` is a column of ``contract``."""
    known = contract.column_names
    unknown = [f"{h!r} -> {c!r}" for h, c in mapping.columns.items() if c not in known]
    if unknown:
        raise ValueError(
            f"columns: {', '.join(unknown)}: not a column of contract {contract.id!r} "
            f"(columns: {', '.join(known)})"
        )


def _landing_key(landing_key: str) -> str:
    return landing_key.replace("\\", "/").lstrip("/").casefold()


def parse_mapping(
    document: Any, *, source: str = "<mapping>", contract: DataContract | None = None
) -> ColumnMapping:
    """Validate an already-parsed YAML document as a mapping; raises ``InvalidMappingError``."""
    if not isinstance(document, dict):
        raise InvalidMappingError(f"{source}: a mapping profile must be a YAML mapping")
    context = {"contract": contract} if contract is not None else None
    try:
        return ColumnMapping.model_validate(document, context=context)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidMappingError(f"{source}: invalid mapping: {problems}") from None


def load_mapping_file(path: Path, *, contract: DataContract | None = None) -> ColumnMapping:
    """Load one mapping file; its ``name`` must be the file name without ``.yaml``."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidMappingError(f"{path}: cannot read mapping: {exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidMappingError(f"{path}: not valid YAML: {exc}") from None
    mapping = parse_mapping(document, source=str(path), contract=contract)
    if mapping.name != path.stem:
        raise InvalidMappingError(
            f"{path}: file is named {path.stem!r} but declares name {mapping.name!r}"
        )
    return mapping


def load_mappings(directory: Path | str | None = None) -> list[ColumnMapping]:
    """Every mapping profile of the folder (default ``data_contracts/mappings``), in
    file-name order; any broken file raises ``InvalidMappingError``."""
    directory = mappings_dir() if directory is None else Path(directory)
    if not directory.is_dir():
        raise ContractNotFoundError(f"mappings directory {directory} does not exist")
    files = sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    mappings = [load_mapping_file(path) for path in files]
    names = [m.name for m in mappings]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidMappingError(f"{directory}: duplicate mapping names {duplicates}")
    return mappings


def mapping_for(landing_key: str, mappings: Iterable[ColumnMapping]) -> ColumnMapping | None:
    """The first mapping (in the given order: file-name order for ``load_mappings``)
    whose ``match`` globs match ``landing_key``; None: the file uses the contract's names."""
    for mapping in mappings:
        if mapping.matches(landing_key):
            return mapping
    return None
