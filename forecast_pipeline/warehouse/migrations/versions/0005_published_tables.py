"""Published forecasts built for growth: partitioned product forecasts, category forecasts and
outlook, richer top products, retention, and the analysts' views.

* forecasts.forecast_runs keeps every publication: ``published`` (at most one per week) or
  ``superseded`` (a re-run of the week replaced it; its rows are gone).
* forecasts.product_forecasts is partitioned by ``forecast_week`` (one partition per weekly
  run, created by the publisher, dropped by retention).
* forecasts.category_forecasts (per category and the total, per target week) and
  forecasts.category_outlook (per category and the total, per week / month / year window).
* forecasts.top_products gains unit price, predicted revenue, last year's units and change,
  action and cold-start flag.
* forecasts.retention_policy: how many weeks of runs each kind of data is kept.
* analytics: latest product and category forecasts, top products, category outlook, run
  history, forecast accuracy against the actuals that arrived later, data freshness.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


UPGRADE = """
DROP VIEW analytics.product_forecasts;
DROP VIEW analytics.top_products;
DROP VIEW analytics.latest_forecast_run;

-- runs: every publication is kept; one published run per week
ALTER TABLE forecasts.forecast_runs
    DROP CONSTRAINT forecast_runs_status_check,
    DROP CONSTRAINT forecast_runs_partition_key_key,
    ADD COLUMN forecast_week date,
    ADD COLUMN superseded_at timestamptz;
UPDATE forecasts.forecast_runs SET forecast_week = partition_key::date;
ALTER TABLE forecasts.forecast_runs
    ALTER COLUMN forecast_week SET NOT NULL,
    ADD CONSTRAINT forecast_runs_status_check CHECK (status IN ('published', 'superseded')),
    ADD CONSTRAINT forecast_runs_week_check
        CHECK (partition_key = to_char(forecast_week, 'YYYY-MM-DD'));
CREATE UNIQUE INDEX forecast_runs_published_week
    ON forecasts.forecast_runs (forecast_week) WHERE status = 'published';
DROP INDEX forecasts.forecast_runs_latest_idx;
CREATE INDEX forecast_runs_latest_idx
    ON forecasts.forecast_runs (forecast_week DESC, published_at DESC) WHERE status = 'published';

-- product forecasts, one partition per forecast week
ALTER TABLE forecasts.product_forecasts RENAME TO product_forecasts_unpartitioned;
ALTER INDEX forecasts.product_forecasts_pkey RENAME TO product_forecasts_unpartitioned_pkey;
ALTER TABLE forecasts.product_forecasts_unpartitioned
    RENAME CONSTRAINT product_forecasts_step_check TO product_forecasts_unpartitioned_step_check;
ALTER TABLE forecasts.product_forecasts_unpartitioned
    RENAME CONSTRAINT product_forecasts_units_check TO product_forecasts_unpartitioned_units_check;
CREATE TABLE forecasts.product_forecasts (
    forecast_week date NOT NULL,
    run_id        text NOT NULL,
    product_id    text NOT NULL,
    category      text NOT NULL,
    target_week   date NOT NULL,
    step          integer NOT NULL CHECK (step >= 1),
    units         double precision NOT NULL CHECK (units >= 0),
    lower_80      double precision NOT NULL,
    upper_80      double precision NOT NULL,
    lower_95      double precision NOT NULL,
    upper_95      double precision NOT NULL,
    cold_start    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (forecast_week, run_id, product_id, target_week)
) PARTITION BY RANGE (forecast_week);
-- within a partition the week is constant: index what the views filter on
CREATE INDEX product_forecasts_category_step_idx
    ON forecasts.product_forecasts (category, step);
CREATE INDEX product_forecasts_category_week_idx
    ON forecasts.product_forecasts (category, target_week);
COMMENT ON TABLE forecasts.product_forecasts IS
    'Weekly unit forecasts per product; one partition per forecast week '
    '(product_forecasts_wYYYYMMDD), dropped by retention.';

DO $$
DECLARE week date;
BEGIN
    FOR week IN SELECT DISTINCT forecast_week FROM forecasts.forecast_runs LOOP
        EXECUTE format(
            'CREATE TABLE forecasts.%I PARTITION OF forecasts.product_forecasts '
            'FOR VALUES FROM (%L) TO (%L)',
            'product_forecasts_w' || to_char(week, 'YYYYMMDD'), week, week + 7
        );
    END LOOP;
END
$$;
INSERT INTO forecasts.product_forecasts
SELECT r.forecast_week, f.run_id, f.product_id, f.category, f.target_week, f.step, f.units,
       f.lower_80, f.upper_80, f.lower_95, f.upper_95, f.cold_start
FROM forecasts.product_forecasts_unpartitioned f
JOIN forecasts.forecast_runs r USING (run_id);
DROP TABLE forecasts.product_forecasts_unpartitioned;

-- category and total forecasts per target week
CREATE TABLE forecasts.category_forecasts (
    run_id      text NOT NULL REFERENCES forecasts.forecast_runs ON DELETE CASCADE,
    level       text NOT NULL CHECK (level IN ('category', 'total')),
    category    text NOT NULL,
    target_week date NOT NULL,
    step        integer NOT NULL CHECK (step >= 1),
    units       double precision NOT NULL CHECK (units >= 0),
    lower_80    double precision NOT NULL,
    upper_80    double precision NOT NULL,
    lower_95    double precision NOT NULL,
    upper_95    double precision NOT NULL,
    PRIMARY KEY (run_id, level, category, target_week),
    CHECK (level = 'category' OR category = 'total')
);
CREATE INDEX category_forecasts_target_idx
    ON forecasts.category_forecasts (category, target_week);

-- category and total outlook per window
CREATE TABLE forecasts.category_outlook (
    run_id                  text NOT NULL REFERENCES forecasts.forecast_runs ON DELETE CASCADE,
    level                   text NOT NULL CHECK (level IN ('category', 'total')),
    category                text NOT NULL,
    time_period             text NOT NULL CHECK (time_period IN ('week', 'month', 'year')),
    predicted_units         double precision NOT NULL,
    lower_80                double precision NOT NULL,
    upper_80                double precision NOT NULL,
    lower_95                double precision NOT NULL,
    upper_95                double precision NOT NULL,
    previous_units          double precision NOT NULL,
    change_pct              double precision,
    last_year_units         double precision,
    change_vs_last_year_pct double precision,
    trend                   text NOT NULL CHECK (trend IN ('up', 'down', 'flat')),
    PRIMARY KEY (run_id, time_period, level, category),
    CHECK (level = 'category' OR category = 'total')
);

-- top products: revenue, last year, action, cold start
ALTER TABLE forecasts.top_products
    ADD COLUMN unit_price double precision,
    ADD COLUMN predicted_revenue double precision,
    ADD COLUMN last_year_units double precision,
    ADD COLUMN change_vs_last_year_pct double precision,
    ADD COLUMN action text NOT NULL DEFAULT 'hold'
        CHECK (action IN ('stock_up', 'hold', 'reduce')),
    ADD COLUMN cold_start boolean NOT NULL DEFAULT false;

-- retention, in weeks of forecast runs
CREATE TABLE forecasts.retention_policy (
    data       text PRIMARY KEY CHECK (data IN ('product_forecasts', 'runs')),
    keep_weeks integer NOT NULL CHECK (keep_weeks >= 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO forecasts.retention_policy (data, keep_weeks) VALUES
    ('product_forecasts', 26),
    ('runs', 156);
COMMENT ON TABLE forecasts.retention_policy IS
    'Weeks of forecast runs kept: product_forecasts partitions older than the newest week minus '
    'keep_weeks are detached and dropped; runs older than that are deleted with their category '
    'forecasts, outlook and top products.';

-- analytics views
CREATE VIEW analytics.latest_forecast_run AS
SELECT run_id, partition_key AS forecast_week, origin AS forecast_origin, model_name,
       model_version, mlflow_run_id, data_start, data_end, horizon_weeks, n_products, published_at
FROM forecasts.forecast_runs
WHERE status = 'published'
ORDER BY forecast_runs.forecast_week DESC, forecast_runs.published_at DESC
LIMIT 1;
COMMENT ON VIEW analytics.latest_forecast_run IS
    'The most recent published weekly forecast run: one row.';

CREATE VIEW analytics.forecast_runs AS
SELECT run_id, partition_key AS forecast_week, origin AS forecast_origin, status, model_name,
       model_version, data_start, data_end, horizon_weeks, n_products, published_at,
       superseded_at, dagster_run_id, mlflow_run_id
FROM forecasts.forecast_runs;
COMMENT ON VIEW analytics.forecast_runs IS
    'Every publication of a weekly forecast: published (the one in force for its week) or '
    'superseded (replaced by a re-run). Grain: run_id.';

CREATE VIEW analytics.product_forecasts AS
SELECT r.run_id, r.forecast_week, r.forecast_origin, r.model_name, r.model_version,
       f.product_id, p.product_name, f.category, f.target_week, f.step,
       f.units, f.lower_80, f.upper_80, f.lower_95, f.upper_95, f.cold_start
FROM forecasts.product_forecasts f
JOIN analytics.latest_forecast_run r
  ON f.run_id = r.run_id AND f.forecast_week = r.forecast_week::date
LEFT JOIN warehouse.products p USING (product_id)
-- a scalar subquery: the week becomes a run-time parameter and only its partition is read
WHERE f.forecast_week = (SELECT forecast_week::date FROM analytics.latest_forecast_run);
COMMENT ON VIEW analytics.product_forecasts IS
    'Weekly unit forecasts per product with 80% and 95% intervals from the latest published run. '
    'Grain: product_id, target_week.';

CREATE VIEW analytics.top_products AS
SELECT r.run_id, r.forecast_week, r.forecast_origin, r.model_name, r.model_version,
       r.published_at, t.category, t.time_period, t.rank, t.product_id, t.product_name,
       t.predicted_units, t.lower_80, t.upper_80, t.previous_units, t.change_pct, t.trend,
       t.unit_price, t.predicted_revenue, t.last_year_units, t.change_vs_last_year_pct,
       t.action, t.cold_start
FROM forecasts.top_products t
JOIN analytics.latest_forecast_run r USING (run_id);
COMMENT ON VIEW analytics.top_products IS
    'Top products per category for the next week, month (4 weeks) and year (52 weeks) from the '
    'latest published run, with revenue, change and action. Grain: time_period, category, rank.';

CREATE VIEW analytics.category_forecasts AS
SELECT r.run_id, r.forecast_week, r.forecast_origin, r.model_version, c.level, c.category,
       c.target_week, c.step, c.units, c.lower_80, c.upper_80, c.lower_95, c.upper_95
FROM forecasts.category_forecasts c
JOIN analytics.latest_forecast_run r USING (run_id);
COMMENT ON VIEW analytics.category_forecasts IS
    'Weekly unit forecasts per category and for the total (level = total, category = total) from '
    'the latest published run. Grain: level, category, target_week.';

CREATE VIEW analytics.category_outlook AS
SELECT r.run_id, r.forecast_week, r.forecast_origin, r.model_version, o.level, o.category,
       o.time_period, o.predicted_units, o.lower_80, o.upper_80, o.lower_95, o.upper_95,
       o.previous_units, o.change_pct, o.last_year_units, o.change_vs_last_year_pct, o.trend
FROM forecasts.category_outlook o
JOIN analytics.latest_forecast_run r USING (run_id);
COMMENT ON VIEW analytics.category_outlook IS
    'Per category and for the total: units expected over the next week, month and year with '
    '80%/95% intervals, the change against the weeks just before and against the same weeks '
    'last year, and the trend. Grain: level, category, time_period.';

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

CREATE VIEW analytics.data_freshness AS
SELECT 'sales' AS source, 'daily' AS frequency, max(s.sale_date) AS latest_data_date,
       (SELECT max(merged_at) FROM warehouse.uploads) AS last_loaded_at,
       current_date - max(s.sale_date) AS age_days
FROM warehouse.sales_history s
UNION ALL
SELECT 'indicator:' || series_id, min(frequency), max(observation_date), max(fetched_at),
       current_date - max(observation_date)
FROM warehouse.indicator_observations
WHERE value IS NOT NULL
GROUP BY series_id
UNION ALL
SELECT 'forecasts', 'weekly', max(forecast_week), max(published_at),
       current_date - max(forecast_week)
FROM forecasts.forecast_runs
WHERE status = 'published';
COMMENT ON VIEW analytics.data_freshness IS
    'Per source (sales history, each indicator series, published forecasts): the latest date '
    'the data covers, when it was last loaded, and its age in days. Grain: source.';

-- the read-only role reads and nothing else: no temporary tables (the roles that migrate and
-- load keep them)
-- and its queries are short: compiling them (JIT) costs more than it saves
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
    EXECUTE format('ALTER ROLE forecast_reader IN DATABASE %I SET jit = off', current_database());
END
$$;
"""

DOWNGRADE = """
DO $$
BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
    EXECUTE format('ALTER ROLE forecast_reader IN DATABASE %I RESET jit', current_database());
END
$$;
DROP VIEW analytics.data_freshness, analytics.forecast_accuracy, analytics.category_outlook,
    analytics.category_forecasts, analytics.top_products, analytics.product_forecasts,
    analytics.forecast_runs, analytics.latest_forecast_run;
DROP TABLE forecasts.retention_policy, forecasts.category_outlook, forecasts.category_forecasts;
ALTER TABLE forecasts.top_products
    DROP COLUMN unit_price, DROP COLUMN predicted_revenue, DROP COLUMN last_year_units,
    DROP COLUMN change_vs_last_year_pct, DROP COLUMN action, DROP COLUMN cold_start;
DELETE FROM forecasts.forecast_runs WHERE status <> 'published';
CREATE TABLE forecasts.product_forecasts_flat (
    run_id      text NOT NULL REFERENCES forecasts.forecast_runs ON DELETE CASCADE,
    product_id  text NOT NULL,
    category    text NOT NULL,
    target_week date NOT NULL,
    step        integer NOT NULL CHECK (step >= 1),
    units       double precision NOT NULL CHECK (units >= 0),
    lower_80    double precision NOT NULL,
    upper_80    double precision NOT NULL,
    lower_95    double precision NOT NULL,
    upper_95    double precision NOT NULL,
    cold_start  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, product_id, target_week)
);
INSERT INTO forecasts.product_forecasts_flat
SELECT run_id, product_id, category, target_week, step, units, lower_80, upper_80, lower_95,
       upper_95, cold_start
FROM forecasts.product_forecasts;
DROP TABLE forecasts.product_forecasts;
ALTER TABLE forecasts.product_forecasts_flat RENAME TO product_forecasts;
ALTER INDEX forecasts.product_forecasts_flat_pkey RENAME TO product_forecasts_pkey;
ALTER TABLE forecasts.product_forecasts
    RENAME CONSTRAINT product_forecasts_flat_run_id_fkey TO product_forecasts_run_id_fkey;
ALTER TABLE forecasts.product_forecasts
    RENAME CONSTRAINT product_forecasts_flat_step_check TO product_forecasts_step_check;
ALTER TABLE forecasts.product_forecasts
    RENAME CONSTRAINT product_forecasts_flat_units_check TO product_forecasts_units_check;
DROP INDEX forecasts.forecast_runs_published_week;
DROP INDEX forecasts.forecast_runs_latest_idx;
CREATE INDEX forecast_runs_latest_idx ON forecasts.forecast_runs (origin DESC, published_at DESC);
ALTER TABLE forecasts.forecast_runs
    DROP CONSTRAINT forecast_runs_week_check,
    DROP CONSTRAINT forecast_runs_status_check,
    DROP COLUMN forecast_week,
    DROP COLUMN superseded_at,
    ADD CONSTRAINT forecast_runs_status_check CHECK (status IN ('published')),
    ADD CONSTRAINT forecast_runs_partition_key_key UNIQUE (partition_key);

CREATE VIEW analytics.latest_forecast_run AS
SELECT run_id, partition_key AS forecast_week, origin AS forecast_origin, model_name,
       model_version, mlflow_run_id, data_start, data_end, horizon_weeks, n_products, published_at
FROM forecasts.forecast_runs
WHERE status = 'published'
ORDER BY origin DESC, published_at DESC
LIMIT 1;
CREATE VIEW analytics.top_products AS
SELECT r.forecast_week, r.forecast_origin, r.model_name, r.model_version, r.published_at,
       t.category, t.time_period, t.rank, t.product_id, t.product_name,
       t.predicted_units, t.lower_80, t.upper_80, t.previous_units, t.change_pct, t.trend
FROM forecasts.top_products t
JOIN analytics.latest_forecast_run r USING (run_id);
CREATE VIEW analytics.product_forecasts AS
SELECT r.run_id, r.forecast_week, r.forecast_origin, r.model_name, r.model_version,
       f.product_id, p.product_name, f.category, f.target_week, f.step,
       f.units, f.lower_80, f.upper_80, f.lower_95, f.upper_95
FROM forecasts.product_forecasts f
JOIN analytics.latest_forecast_run r USING (run_id)
LEFT JOIN warehouse.products p USING (product_id);
GRANT SELECT ON analytics.latest_forecast_run, analytics.top_products, analytics.product_forecasts
    TO forecast_reader;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
