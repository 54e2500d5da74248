"""Names shared by the registry code and the Dagster resources (no imports: cheap to load)."""

CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_MODEL_NAME = "forecast_pipeline_ensemble"
