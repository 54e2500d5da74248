"""Data contracts (ODCS v3 subset) and their execution with Great Expectations 1.x.

Great Expectations is imported lazily (it takes seconds to import), only when a
suite is built or a frame is validated.
"""

from forecast_pipeline.contracts.dagster_schema import table_schema
from forecast_pipeline.contracts.errors import (
    ContractError,
    ContractNotFoundError,
    ContractViolation,
    InvalidContractError,
)
from forecast_pipeline.contracts.expectations import expectation_suite
from forecast_pipeline.contracts.loader import (
    contracts_dir,
    load_all_contracts,
    load_contract,
    load_contract_file,
)
from forecast_pipeline.contracts.model import DataContract, Property, QualityRule, SchemaObject
from forecast_pipeline.contracts.validation import RowRejection, ValidationOutcome, validate_frame

__all__ = [
    "ContractError",
    "ContractNotFoundError",
    "ContractViolation",
    "DataContract",
    "InvalidContractError",
    "Property",
    "QualityRule",
    "RowRejection",
    "SchemaObject",
    "ValidationOutcome",
    "contracts_dir",
    "expectation_suite",
    "load_all_contracts",
    "load_contract",
    "load_contract_file",
    "table_schema",
    "validate_frame",
]
