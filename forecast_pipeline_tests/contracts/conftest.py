import pytest

from forecast_pipeline.contracts import DataContract, load_contract


@pytest.fixture(scope="session")
def sales_contract() -> DataContract:
    return load_contract("sales_upload")
