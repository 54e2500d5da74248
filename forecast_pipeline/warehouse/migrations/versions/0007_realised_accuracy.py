"""Realised accuracy: published forecasts scored as the actuals arrive.

* forecasts.realised_accuracy: additive error components of every published run per target
  week, level (product, category, total), category and horizon, written by the
  ``monitoring/realised_accuracy`` asset. No foreign key to forecasts.forecast_runs: the scores
  outlive the runs' rows, which retention drops.
* analytics.realised_accuracy: the same rows with their metrics (WAPE, bias, MASE, interval
  coverage).
* analytics.forecast_accuracy now reads the stored scores (it aggregated the sales history at
  query time): per published run, level and category; ``forecast_week`` becomes a date.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE forecasts.realised_accuracy (
    target_week      date NOT NULL,
    run_id           text NOT NULL,
    forecast_week    date NOT NULL,
    model_version    text NOT NULL,
    level            text NOT NULL CHECK (level IN ('product', 'category', 'total')),
    category         text NOT NULL,
    horizon          integer NOT NULL CHECK (horizon >= 1),
    n_series         integer NOT NULL CHECK (n_series >= 1),
    actual_units     double precision NOT NULL,
    forecast_units   double precision NOT NULL,
    abs_error        double precision NOT NULL,
    error            double precision NOT NULL,
    scaled_abs_error double precision NOT NULL,
    scaled_series    integer NOT NULL,
    in_80            integer NOT NULL,
    in_95            integer NOT NULL,
    scored_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_week, run_id, level, category),
    CHECK (target_week = forecast_week + 7 * horizon)
);
CREATE INDEX realised_accuracy_run_idx ON forecasts.realised_accuracy (forecast_week, run_id);
COMMENT ON TABLE forecasts.realised_accuracy IS
    'Error components of published forecasts once their target week is complete: sums over the '
    'series of a level and category (products of the category, the category, the total) of the '
    'actual and forecast units, |error|, error, |error|/scale (MASE), and interval hits.';

CREATE VIEW analytics.realised_accuracy AS
SELECT target_week, forecast_week, horizon, model_version, level, category, run_id,
       abs_error / nullif(actual_units, 0) AS wape,
       error / nullif(actual_units, 0) AS bias,
       scaled_abs_error / nullif(scaled_series, 0) AS mase,
       in_80::double precision / n_series AS coverage_80,
       in_95::double precision / n_series AS coverage_95,
       n_series, actual_units, forecast_units, scored_at
FROM forecasts.realised_accuracy;
COMMENT ON VIEW analytics.realised_accuracy IS
    'Realised accuracy of every published run per target week, level, category and horizon '
    '(weeks ahead). Grain: target_week, run_id, level, category.';

DROP VIEW analytics.forecast_accuracy;
CREATE VIEW analytics.forecast_accuracy AS
SELECT forecast_week, model_version, level, category,
       count(*) AS weeks_scored, min(target_week) AS first_target_week,
       max(target_week) AS last_target_week,
       sum(abs_error) / nullif(sum(actual_units), 0) AS wape,
       sum(error) / nullif(sum(actual_units), 0) AS bias,
       sum(scaled_abs_error) / nullif(sum(scaled_series), 0) AS mase,
       sum(in_80)::double precision / sum(n_series) AS coverage_80,
       sum(in_95)::double precision / sum(n_series) AS coverage_95,
       sum(forecast_units) AS forecast_units, sum(actual_units) AS actual_units
FROM forecasts.realised_accuracy
GROUP BY forecast_week, model_version, level, category;
COMMENT ON VIEW analytics.forecast_accuracy IS
    'How each published run did once the actuals arrived: per forecast week, level and '
    'category, WAPE, bias, MASE and 80%/95% interval coverage pooled over the target weeks '
    'scored so far. Grain: forecast_week, level, category.';

GRANT SELECT ON analytics.realised_accuracy, analytics.forecast_accuracy TO forecast_reader;
"""

DOWNGRADE = """
DROP VIEW analytics.forecast_accuracy;
DROP VIEW analytics.realised_accuracy;
DROP TABLE forecasts.realised_accuracy;
-- the query-time view of revision 0005
CREATE VIEW analytics.forecast_accuracy AS
WITH complete AS (
    -- the last week (Monday) whose seven days are all in the sales history
    SELECT (date_trunc('week', max(sale_date) + 1)::date - 7) AS last_week
    FROM warehouse.sales_history
), actuals AS (
    SELECT p.category, date_trunc('week', s.sale_date)::date AS target_week,
           sum(s.units)::double precision AS units
    FROM warehouse.sales_history s
    JOIN warehouse.products p USING (product_id)
    GROUP BY 1, 2
)
SELECT r.partition_key AS forecast_week, r.model_version, c.category,
       count(*) AS weeks_scored, min(c.target_week) AS first_target_week,
       max(c.target_week) AS last_target_week,
       sum(abs(c.units - coalesce(a.units, 0))) / nullif(sum(coalesce(a.units, 0)), 0) AS wape,
       sum(c.units - coalesce(a.units, 0)) / nullif(sum(coalesce(a.units, 0)), 0) AS bias,
       avg((coalesce(a.units, 0) BETWEEN c.lower_80 AND c.upper_80)::int) AS coverage_80,
       avg((coalesce(a.units, 0) BETWEEN c.lower_95 AND c.upper_95)::int) AS coverage_95,
       sum(c.units) AS forecast_units, sum(coalesce(a.units, 0)) AS actual_units
FROM forecasts.category_forecasts c
JOIN forecasts.forecast_runs r USING (run_id)
CROSS JOIN complete
LEFT JOIN actuals a ON a.category = c.category AND a.target_week = c.target_week
WHERE r.status = 'published' AND c.level = 'category' AND c.target_week <= complete.last_week
GROUP BY r.partition_key, r.model_version, c.category;
COMMENT ON VIEW analytics.forecast_accuracy IS
    'How past forecasts did once the actuals arrived: per published forecast week and category, '
    'WAPE, bias and 80%/95% interval coverage over the target weeks that are complete in the '
    'sales history (weeks without sales count as 0 units). Grain: forecast_week, category.';
GRANT SELECT ON analytics.forecast_accuracy TO forecast_reader;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
