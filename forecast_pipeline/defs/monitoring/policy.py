"""The thresholds of the drift checks, as a resource the UI shows and a deployment can change."""

import dagster as dg
from pydantic import Field


class MonitoringPolicy(dg.ConfigurableResource):
    """When input drift and error drift warn, and when they escalate to a failed check.

    Input drift: the population stability index of each feature between the
    ``drift_reference_weeks`` weeks before the last ``drift_recent_weeks`` and those recent
    weeks. Error drift: the realised WAPE of the published forecasts over the last
    ``error_window_weeks`` target weeks against the band of the model's backtest windows.
    """

    psi_warn: float = Field(default=0.1, description="PSI at or above which input drift warns.")
    psi_fail: float = Field(default=0.25, description="PSI at or above which input drift fails.")
    drift_recent_weeks: int = Field(default=4, ge=1, description="Recent weeks compared.")
    drift_reference_weeks: int = Field(
        default=52, ge=4, description="Weeks before the recent ones that form the reference."
    )
    error_window_weeks: int = Field(
        default=4, ge=1, description="Target weeks pooled into the realised WAPE."
    )
    error_tolerance: float = Field(
        default=0.25,
        ge=0,
        description="How far (relative) above the worst backtest window the WAPE may go.",
    )
    error_fail_ratio: float = Field(
        default=1.5,
        gt=1,
        description="Realised WAPE / band limit at or above which error drift fails at once.",
    )
    escalate_after_weeks: int = Field(
        default=3,
        ge=1,
        description="Consecutive scored weeks outside the band after which error drift fails.",
    )
    error_levels: list[str] = Field(
        default=["product", "category"], description="Levels whose realised error is checked."
    )
