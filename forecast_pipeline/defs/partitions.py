"""Partitions: one dynamic partition per uploaded file, one weekly partition per forecast origin."""

import dagster as dg

sales_uploads = dg.DynamicPartitionsDefinition(name="sales_uploads")

# Weeks start on Monday; partition "2026-11-09" covers 2026-11-09 .. 2026-11-15 and its
# forecasts start on the next Monday, the forecast origin.
weekly = dg.WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1)
