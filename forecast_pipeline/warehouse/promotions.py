"""The model promotion history in the warehouse (``forecasts.model_promotions``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import psycopg

__all__ = ["Promotion", "load_promotions", "record_promotion"]

DECISIONS = ("promoted", "kept_challenger", "rolled_back")


@dataclass(frozen=True)
class Promotion:
    """One decision about a registered model version.

    ``comparison`` holds the gate's per-level figures; the ``*_value`` fields are those of the
    first gated level, for people reading the table.
    """

    model_name: str
    version: int
    decision: str
    reason: str
    decided_by: str
    partition_key: str | None = None
    previous_champion: int | None = None
    metric: str | None = None
    margin: float | None = None
    challenger_value: float | None = None
    champion_value: float | None = None
    baseline_model: str | None = None
    baseline_value: float | None = None
    comparison: list[dict[str, Any]] = field(default_factory=list)
    mlflow_run_id: str | None = None
    dagster_run_id: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {self.decision!r}")


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def record_promotion(conn: psycopg.Connection, promotion: Promotion) -> int:
    """Insert one decision; returns its ``promotion_id``."""
    comparison = [
        {k: (_finite(v) if isinstance(v, float) else v) for k, v in row.items()}
        for row in promotion.comparison
    ]
    row = conn.execute(
        """
        INSERT INTO forecasts.model_promotions
            (model_name, version, decision, partition_key, previous_champion, metric, margin,
             challenger_value, champion_value, baseline_model, baseline_value, comparison,
             reason, mlflow_run_id, dagster_run_id, decided_by)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)
        RETURNING promotion_id
        """,
        (
            promotion.model_name,
            promotion.version,
            promotion.decision,
            promotion.partition_key,
            promotion.previous_champion,
            promotion.metric,
            _finite(promotion.margin),
            _finite(promotion.challenger_value),
            _finite(promotion.champion_value),
            promotion.baseline_model,
            _finite(promotion.baseline_value),
            json.dumps(comparison),
            promotion.reason,
            promotion.mlflow_run_id,
            promotion.dagster_run_id,
            promotion.decided_by,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def load_promotions(conn: psycopg.Connection, model_name: str | None = None) -> pd.DataFrame:
    """The history, oldest decision first (optionally of one registered model)."""
    query = (
        "SELECT promotion_id, model_name, version, decision, decided_at, partition_key, "
        "previous_champion, metric, margin, challenger_value, champion_value, baseline_model, "
        "baseline_value, reason, decided_by FROM forecasts.model_promotions"
    )
    params: tuple = ()
    if model_name is not None:
        query += " WHERE model_name = %s"
        params = (model_name,)
    cursor = conn.execute(query + " ORDER BY promotion_id", params)
    columns = [c.name for c in cursor.description or []]
    frame = pd.DataFrame(cursor.fetchall(), columns=columns)
    return frame.astype({"previous_champion": "Int64"})
