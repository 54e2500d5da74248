"""Freshness policies: how recent each source and the published forecasts must be.

The daemon evaluates them (``freshness: enabled: true`` in the instance's dagster.yaml) and the
UI shows each asset as fresh, warning or failing. A time-window policy fails when the asset's
last materialization is older than ``fail_window`` and warns past ``warn_window``; the
weekly publication is held to a deadline instead.
"""

from datetime import timedelta

import dagster as dg

# Merchants upload at least weekly (most daily): warn after two days, fail after eight.
SALES_UPLOADS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=8), warn_window=timedelta(days=2)
)
# The indicators job runs daily at 05:00 UTC: warn when a run was missed, fail after three days.
INDICATORS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=3), warn_window=timedelta(hours=30)
)
# Training starts Mondays at 06:00 UTC and publishing follows it: the week's forecasts must be
# published between Monday 06:00 and 12:00 UTC.
WEEKLY_PUBLICATION = dg.FreshnessPolicy.cron(
    deadline_cron="0 12 * * 1", lower_bound_delta=timedelta(hours=6), timezone="UTC"
)
