"""Initial warehouse: uploads registry, sales history, indicators, forecasts, analytics views.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

READER_ROLE = "forecast_reader"

UPGRADE = """
CREATE SCHEMA warehouse;
CREATE SCHEMA forecasts;
CREATE SCHEMA analytics;

-- one row per file received in the landing zone (one dynamic partition each)
CREATE TABLE warehouse.uploads (
    upload_id        text PRIMARY KEY,
    filename         text NOT NULL,
    source_uri       text NOT NULL,
    raw_uri          text NOT NULL,
    checksum_sha256  text NOT NULL UNIQUE,
    size_bytes       bigint NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'received'
                     CHECK (status IN ('received', 'validated', 'rejected', 'merged')),
    contract_version text,
    rows_read        integer,
    rows_accepted    integer,
    rows_rejected    integer,
    rejection_reason text,
    validated_at     timestamptz,
    merged_at        timestamptz,
    CHECK (rows_read IS NULL OR rows_read = rows_accepted + rows_rejected)
);

-- every rule a rejected line broke, with its line number in the file (header = line 1)
CREATE TABLE warehouse.upload_rejections (
    upload_id   text NOT NULL REFERENCES warehouse.uploads ON DELETE CASCADE,
    line_number integer NOT NULL,
    column_name text,
    value       text,
    rule        text NOT NULL,
    message     text NOT NULL
);
CREATE INDEX upload_rejections_upload_idx ON warehouse.upload_rejections (upload_id, line_number);

-- the clean daily sales history; a later upload of a key supersedes an earlier one
CREATE TABLE warehouse.sales_history (
    sale_date    date NOT NULL,
    store_id     text NOT NULL,
    product_id   text NOT NULL,
    units        integer NOT NULL,
    unit_price   numeric(12, 2),
    revenue      numeric(14, 2),
    on_promotion boolean,
    upload_id    text NOT NULL REFERENCES warehouse.uploads,
    line_number  integer NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sale_date, store_id, product_id)
);
CREATE INDEX sales_history_product_idx ON warehouse.sales_history (product_id, sale_date);
CREATE INDEX sales_history_upload_idx ON warehouse.sales_history (upload_id);

CREATE TABLE warehouse.products (
    product_id      text PRIMARY KEY,
    product_name    text,
    category        text NOT NULL,
    first_sale_date date NOT NULL,
    last_sale_date  date NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_category_idx ON warehouse.products (category);

-- macro and market indicators, one row per observation and vintage
CREATE TABLE warehouse.indicator_observations (
    series_id        text NOT NULL,
    observation_date date NOT NULL,
    value            double precision,
    published_date   date NOT NULL,
    source           text NOT NULL,
    frequency        text NOT NULL,
    fetched_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series_id, observation_date, published_date),
    CHECK (published_date >= observation_date)
);

-- one row per published weekly forecast; its rows below are replaced with it atomically
CREATE TABLE forecasts.forecast_runs (
    run_id         text PRIMARY KEY,
    partition_key  text NOT NULL UNIQUE,
    origin         date NOT NULL,
    model_name     text NOT NULL,
    model_version  text NOT NULL,
    mlflow_run_id  text,
    dagster_run_id text,
    data_start     date NOT NULL,
    data_end       date NOT NULL,
    horizon_weeks  integer NOT NULL,
    n_products     integer NOT NULL,
    status         text NOT NULL DEFAULT 'published' CHECK (status IN ('published')),
    published_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forecast_runs_latest_idx ON forecasts.forecast_runs (origin DESC, published_at DESC);

CREATE TABLE forecasts.product_forecasts (
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
    PRIMARY KEY (run_id, product_id, target_week)
);

CREATE TABLE forecasts.top_products (
    run_id          text NOT NULL REFERENCES forecasts.forecast_runs ON DELETE CASCADE,
    category        text NOT NULL,
    time_period     text NOT NULL CHECK (time_period IN ('week', 'month', 'year')),
    rank            integer NOT NULL CHECK (rank >= 1),
    product_id      text NOT NULL,
    product_name    text,
    predicted_units double precision NOT NULL,
    lower_80        double precision NOT NULL,
    upper_80        double precision NOT NULL,
    previous_units  double precision NOT NULL,
    change_pct      double precision,
    trend           text NOT NULL CHECK (trend IN ('up', 'down', 'flat')),
    PRIMARY KEY (run_id, time_period, category, rank)
);

-- backtest figures per weekly partition, model, level and cutoff (NULL cutoff = all windows)
CREATE TABLE forecasts.backtest_metrics (
    partition_key text NOT NULL,
    model_name    text NOT NULL,
    level         text NOT NULL CHECK (level IN ('product', 'category', 'total')),
    cutoff        date,
    mae           double precision,
    rmse          double precision,
    wape          double precision,
    mase          double precision,
    bias          double precision,
    mlflow_run_id text,
    computed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX backtest_metrics_key
    ON forecasts.backtest_metrics (partition_key, model_name, level, cutoff) NULLS NOT DISTINCT;

CREATE VIEW analytics.latest_forecast_run AS
SELECT run_id, partition_key AS forecast_week, origin AS forecast_origin, model_name,
       model_version, mlflow_run_id, data_start, data_end, horizon_weeks, n_products, published_at
FROM forecasts.forecast_runs
WHERE status = 'published'
ORDER BY origin DESC, published_at DESC
LIMIT 1;

COMMENT ON VIEW analytics.latest_forecast_run IS
    'The most recent published weekly forecast run: one row.';

CREATE VIEW analytics.top_products AS
SELECT r.forecast_week, r.forecast_origin, r.model_name, r.model_version, r.published_at,
       t.category, t.time_period, t.rank, t.product_id, t.product_name,
       t.predicted_units, t.lower_80, t.upper_80, t.previous_units, t.change_pct, t.trend
FROM forecasts.top_products t
JOIN analytics.latest_forecast_run r USING (run_id);

COMMENT ON VIEW analytics.top_products IS
    'Top products per category for the next week, month (4 weeks) and year (52 weeks) from the '
    'latest published run. Grain: time_period, category, rank.';

CREATE VIEW analytics.product_forecasts AS
SELECT r.forecast_week, r.forecast_origin, r.model_name, r.model_version,
       f.product_id, p.product_name, f.category, f.target_week, f.step,
       f.units, f.lower_80, f.upper_80, f.lower_95, f.upper_95
FROM forecasts.product_forecasts f
JOIN analytics.latest_forecast_run r USING (run_id)
LEFT JOIN warehouse.products p USING (product_id);

COMMENT ON VIEW analytics.product_forecasts IS
    'Weekly unit forecasts per product with 80% and 95% intervals from the latest published run. '
    'Grain: product_id, target_week.';

CREATE VIEW analytics.backtest_leaderboard AS
SELECT partition_key AS forecast_week, model_name, level, mae, rmse, wape, mase, bias, computed_at
FROM forecasts.backtest_metrics
WHERE cutoff IS NULL;

COMMENT ON VIEW analytics.backtest_leaderboard IS
    'Rolling-origin backtest figures over all windows, per weekly partition, model and level.';
"""

GRANTS = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN
        CREATE ROLE {READER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA warehouse, forecasts FROM PUBLIC;
GRANT USAGE ON SCHEMA analytics TO {READER_ROLE};
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {READER_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO {READER_ROLE};
"""

DOWNGRADE = f"""
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics REVOKE SELECT ON TABLES FROM {READER_ROLE};
DROP SCHEMA analytics CASCADE;
DROP SCHEMA forecasts CASCADE;
DROP SCHEMA warehouse CASCADE;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
