"""What the forecast API needs: hashed API keys, its own read-only role, the category history
behind the trends endpoint, the catalogue per category, and a notification on every publish.

* api.api_keys: one row per key; only a SHA-256 hash of the secret is stored.
* Role forecast_api (LOGIN): a member of forecast_reader (every analytics view) that may also
  read api.api_keys, and nothing else. The API connects with it.
* forecasts.category_history: the weekly units of every category and the total that a run was
  fitted on (the history shown next to its forecast), with analytics.category_history.
* analytics.categories: products per category in the catalogue.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

API_ROLE = "forecast_api"

UPGRADE = f"""
CREATE SCHEMA api;
REVOKE ALL ON SCHEMA api FROM PUBLIC;

CREATE TABLE api.api_keys (
    key_id                text PRIMARY KEY,
    name                  text NOT NULL,
    key_hash              bytea NOT NULL UNIQUE,
    rate_limit_per_minute integer CHECK (rate_limit_per_minute > 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    revoked_at            timestamptz
);
COMMENT ON TABLE api.api_keys IS
    'API keys: key_id is the public prefix of the key, key_hash the SHA-256 of the whole key '
    '(the key itself is shown once, when created); rate_limit_per_minute NULL = the default.';

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
        CREATE ROLE {API_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    EXECUTE format('ALTER ROLE {API_ROLE} IN DATABASE %I SET jit = off', current_database());
END
$$;
GRANT forecast_reader TO {API_ROLE};
GRANT USAGE ON SCHEMA api TO {API_ROLE};
GRANT SELECT ON api.api_keys TO {API_ROLE};

CREATE TABLE forecasts.category_history (
    run_id   text NOT NULL REFERENCES forecasts.forecast_runs ON DELETE CASCADE,
    level    text NOT NULL CHECK (level IN ('category', 'total')),
    category text NOT NULL,
    week     date NOT NULL,
    units    double precision NOT NULL,
    PRIMARY KEY (run_id, level, category, week),
    CHECK (level = 'category' OR category = 'total')
);

CREATE VIEW analytics.category_history AS
SELECT r.run_id, r.forecast_week, r.forecast_origin, h.level, h.category, h.week, h.units
FROM forecasts.category_history h
JOIN analytics.latest_forecast_run r USING (run_id);
COMMENT ON VIEW analytics.category_history IS
    'Weekly units sold per category and in total (level = total) up to the latest published '
    'run''s origin: the history that run was fitted on. Grain: level, category, week.';

CREATE VIEW analytics.categories AS
SELECT category, count(*) AS products, min(first_sale_date) AS first_sale_date,
       max(last_sale_date) AS last_sale_date
FROM warehouse.products
GROUP BY category;
COMMENT ON VIEW analytics.categories IS
    'The catalogue per category: number of products and the dates of their first and last '
    'sales. Grain: category.';
"""

DOWNGRADE = f"""
DROP VIEW analytics.categories, analytics.category_history;
DROP TABLE forecasts.category_history;
DO $$
BEGIN
    EXECUTE format('ALTER ROLE {API_ROLE} IN DATABASE %I RESET jit', current_database());
END
$$;
DROP SCHEMA api CASCADE;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
