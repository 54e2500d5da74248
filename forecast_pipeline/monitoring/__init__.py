"""Monitoring arithmetic, free of Dagster and of the database: realised accuracy of published
forecasts (:mod:`.accuracy`) and drift measures with their verdicts (:mod:`.drift`)."""
