"""Model promotion history: every champion / challenger decision of the registry.

forecasts.model_promotions keeps one row per decision: a challenger promoted or kept by the
promotion gate, or the champion rolled back by hand; analytics.model_promotions shows it to
people and BI tools.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE forecasts.model_promotions (
            promotion_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            model_name        text NOT NULL,
            version           integer NOT NULL CHECK (version >= 1),
            decision          text NOT NULL
                CHECK (decision IN ('promoted', 'kept_challenger', 'rolled_back')),
            decided_at        timestamptz NOT NULL DEFAULT now(),
            partition_key     text,
            previous_champion integer,
            metric            text,
            margin            double precision,
            challenger_value  double precision,
            champion_value    double precision,
            baseline_model    text,
            baseline_value    double precision,
            comparison        jsonb NOT NULL DEFAULT '[]'::jsonb,
            reason            text NOT NULL,
            mlflow_run_id     text,
            dagster_run_id    text,
            decided_by        text NOT NULL
        );
        CREATE INDEX model_promotions_model_idx
            ON forecasts.model_promotions (model_name, decided_at DESC);

        CREATE VIEW analytics.model_promotions AS
        SELECT model_name, version, decision, decided_at, partition_key AS training_week,
               previous_champion AS previous_champion_version, metric, margin,
               challenger_value, champion_value, baseline_model, baseline_value, reason,
               decided_by, mlflow_run_id
        FROM forecasts.model_promotions;

        COMMENT ON VIEW analytics.model_promotions IS
            'Every champion / challenger decision: the version, when, the compared figures '
            '(first gated level), why, and who decided (the promotion gate or a person rolling '
            'back). Grain: one row per decision.';
        GRANT SELECT ON analytics.model_promotions TO forecast_reader;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP VIEW analytics.model_promotions;
        DROP TABLE forecasts.model_promotions;
        """
    )
