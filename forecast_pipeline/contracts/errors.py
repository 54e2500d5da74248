"""Exceptions raised by the data-contract layer."""

from __future__ import annotations


class ContractError(Exception):
    """Base class for problems with a contract definition itself."""


class ContractNotFoundError(ContractError, LookupError):
    """No contract with the requested id exists in the contracts directory."""


class InvalidContractError(ContractError, ValueError):
    """A contract file exists but is not valid YAML or breaks the contract format."""


class ContractViolation(Exception):
    """Data breaks its contract as a whole (a file-level problem, not a row-level one).

    Row-level problems never raise: they are reported as rejections in a
    ``ValidationOutcome``. ``reason`` is a short human-readable explanation.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
