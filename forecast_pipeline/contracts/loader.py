"""Finding and loading data contracts from the repository's ``data_contracts`` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from forecast_pipeline.contracts.errors import ContractNotFoundError, InvalidContractError
from forecast_pipeline.contracts.model import DataContract

_SUFFIXES = (".yaml", ".yml")


def contracts_dir() -> Path:
    """The repository's ``data_contracts`` folder."""
    return Path(__file__).resolve().parents[2] / "data_contracts"


def parse_contract(document: Any, *, source: str = "<contract>") -> DataContract:
    """Validate an already-parsed YAML document (a mapping) as a contract."""
    if not isinstance(document, dict):
        raise InvalidContractError(f"{source}: a contract must be a YAML mapping")
    try:
        return DataContract.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidContractError(f"{source}: invalid contract: {problems}") from None


def load_contract_file(path: Path) -> DataContract:
    """Load and validate one contract file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidContractError(f"{path}: cannot read contract: {exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidContractError(f"{path}: not valid YAML: {exc}") from None
    return parse_contract(document, source=str(path))


def _contract_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ContractNotFoundError(f"contracts directory {directory} does not exist")
    return sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())


def load_contract(name: str, directory: Path | None = None) -> DataContract:
    """Load the contract whose ``id`` is ``name``.

    ``<name>.yaml`` (or ``.yml``) is tried first; otherwise every contract file in
    the directory is searched for that id. Raises ``ContractNotFoundError`` for an
    unknown id and ``InvalidContractError`` when the file is broken.
    """
    directory = contracts_dir() if directory is None else Path(directory)
    files = _contract_files(directory)
    for path in files:
        if path.stem == name:
            contract = load_contract_file(path)
            if contract.id != name:
                raise InvalidContractError(
                    f"{path}: file is named {name!r} but declares id {contract.id!r}"
                )
            return contract
    known: list[str] = []
    for path in files:
        try:
            contract = load_contract_file(path)
        except InvalidContractError:
            continue
        if contract.id == name:
            return contract
        known.append(contract.id)
    raise ContractNotFoundError(
        f"no data contract with id {name!r} in {directory} "
        f"(available: {', '.join(sorted(known)) or 'none'})"
    )


def load_all_contracts(directory: Path | None = None) -> list[DataContract]:
    """Load every contract in the directory, sorted by id; any broken file raises."""
    directory = contracts_dir() if directory is None else Path(directory)
    contracts = [load_contract_file(path) for path in _contract_files(directory)]
    ids = [c.id for c in contracts]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidContractError(f"{directory}: duplicate contract ids {duplicates}")
    return sorted(contracts, key=lambda c: c.id)
