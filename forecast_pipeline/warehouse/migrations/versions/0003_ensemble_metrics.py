"""Ensemble figures: R², interval coverage and width in the backtest metrics; cold-start flag.

forecasts.backtest_metrics gains r2, coverage_80/95 and width_80/95 (NULL for models without
intervals) and analytics.backtest_leaderboard shows them. forecasts.product_forecasts gains
cold_start: the product had too little history and got the category-based forecast.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE forecasts.backtest_metrics
            ADD COLUMN r2 double precision,
            ADD COLUMN coverage_80 double precision,
            ADD COLUMN width_80 double precision,
            ADD COLUMN coverage_95 double precision,
            ADD COLUMN width_95 double precision;
        ALTER TABLE forecasts.product_forecasts
            ADD COLUMN cold_start boolean NOT NULL DEFAULT false;
        CREATE OR REPLACE VIEW analytics.backtest_leaderboard AS
        SELECT partition_key AS forecast_week, model_name, level, mae, rmse, wape, mase, bias,
               computed_at, r2, coverage_80, width_80, coverage_95, width_95
        FROM forecasts.backtest_metrics
        WHERE cutoff IS NULL;
        COMMENT ON VIEW analytics.backtest_leaderboard IS
            'Rolling-origin backtest figures over all windows, per weekly partition, model and '
            'level; coverage and width of the 80%/95% intervals for the ensemble.';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP VIEW analytics.backtest_leaderboard;
        CREATE VIEW analytics.backtest_leaderboard AS
        SELECT partition_key AS forecast_week, model_name, level, mae, rmse, wape, mase, bias,
               computed_at
        FROM forecasts.backtest_metrics
        WHERE cutoff IS NULL;
        GRANT SELECT ON analytics.backtest_leaderboard TO forecast_reader;
        ALTER TABLE forecasts.product_forecasts DROP COLUMN cold_start;
        ALTER TABLE forecasts.backtest_metrics
            DROP COLUMN r2, DROP COLUMN coverage_80, DROP COLUMN width_80,
            DROP COLUMN coverage_95, DROP COLUMN width_95;
        """
    )
