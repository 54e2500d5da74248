"""Row-level validation of an upload against its contract, executed by Great Expectations 1.x.

Steps of ``validate_frame``:

1. file-level checks (``line_number`` column, required columns present); records
   flagged in the optional ``_malformed`` column are rejected (``field_count``)
   and set aside;
2. defaults (``defaultValue``) for absent or empty values;
3. coercion of every column to its logical type; a failure is a rejection with
   rule ``logicalType`` and the cell becomes missing for the next step;
4. one GX validation run over the typed frame with the suite from
   ``expectation_suite``; the result format returns, for each failing
   expectation, the ``line_number`` of every failing row, and those become
   rejections (rule = the contract rule's id);
5. rows with no rejection are the accepted rows, converted to their final dtypes.

With ``check_unique_key=False`` the suite is built without the table's
``uniqueCombination`` expectations (for transaction-level files, whose lines
legitimately share a key and are aggregated to the key's grain afterwards).

A cell that failed coercion is reported once (``logicalType``), not a second time
as a missing required value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast_pipeline.contracts.coercion import as_text, coerce_series, failure_message
from forecast_pipeline.contracts.errors import ContractViolation
from forecast_pipeline.contracts.expectations import REQUIRED_RULE, expectation_suite
from forecast_pipeline.contracts.model import DataContract, Property

LINE_NUMBER = "line_number"
LOGICAL_TYPE_RULE = "logicalType"
FIELD_COUNT_RULE = "field_count"
#: Optional frame column: the problem of a record that could not be split into fields.
MALFORMED = "_malformed"
REJECTION_COLUMNS = ["line_number", "column", "value", "rule", "message"]

#: GX 1.x result format: every failing row, identified by its ``line_number`` column.
#: ``exclude_unexpected_values`` makes GX return ``[{"line_number": [...]}]`` (one
#: list of ids instead of one dict per row, and no copy of the values);
#: ``return_unexpected_index_query`` off avoids a string naming every failing index.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [LINE_NUMBER],
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}


@dataclass(frozen=True)
class RowRejection:
    """One rule broken by one line of the file."""

    line_number: int
    rule: str
    message: str
    column: str | None = None
    value: str | None = None


@dataclass
class ValidationOutcome:
    accepted: pd.DataFrame
    rejections: pd.DataFrame
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    expectation_results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.rejections.empty

    @property
    def daily_rows(self) -> int:
        """Rows of ``accepted``: the accepted lines, or the daily rows they were aggregated
        into (``forecast_pipeline.ingest.check_upload`` with a transaction-grain mapping)."""
        return len(self.accepted)

    def rejection_summary(self) -> dict[str, int]:
        """Number of rejections per rule."""
        return {str(k): int(v) for k, v in self.rejections["rule"].value_counts().items()}


def empty_rejections() -> pd.DataFrame:
    return _rejection_frame([], [], [], [], [])


def _rejection_frame(
    lines: Iterable[int],
    columns: Iterable[str | None],
    values: Iterable[str | None],
    rules: Iterable[str],
    messages: Iterable[str],
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line_number": pd.Series(list(lines), dtype="int64"),
            "column": pd.Series(list(columns), dtype=object),
            "value": pd.Series(list(values), dtype=object),
            "rule": pd.Series(list(rules), dtype=object),
            "message": pd.Series(list(messages), dtype=object),
        }
    )


def _nullable(prop: Property) -> bool:
    return not prop.required and prop.default_value is None


def _final_dtype(prop: Property) -> str:
    if prop.logical_type == "date":
        return "datetime64[ns]"
    if prop.logical_type == "integer":
        return "Int64" if _nullable(prop) else "int64"
    if prop.logical_type == "number":
        return "float64"
    if prop.logical_type == "boolean":
        return "boolean" if _nullable(prop) else "bool"
    return "object"


def _check_frame(contract: DataContract, frame: pd.DataFrame) -> None:
    if LINE_NUMBER not in frame.columns:
        raise ValueError(f"the frame needs a {LINE_NUMBER!r} column")
    if not frame[LINE_NUMBER].is_unique:
        raise ValueError(f"{LINE_NUMBER!r} values must be unique")
    missing = [c for c in contract.required_columns if c not in frame.columns]
    if missing:
        raise ContractViolation(f"missing required columns: {', '.join(missing)}")


def _raw_columns(contract: DataContract, frame: pd.DataFrame) -> pd.DataFrame:
    """Contract columns as text (None = missing), defaults applied."""
    index = pd.RangeIndex(len(frame))
    raw: dict[str, pd.Series] = {}
    for prop in contract.properties:
        if prop.name in frame.columns:
            values = as_text(frame[prop.name].reset_index(drop=True))
        else:
            values = pd.Series([None] * len(frame), index=index, dtype=object)
        default = prop.default_string
        if default is not None:
            values = values.where(values.notna(), default)
        raw[prop.name] = values
    return pd.DataFrame(raw, index=index)


def _run_gx(suite: Any, data: pd.DataFrame, contract: DataContract) -> Any:
    """One ephemeral GX context, pandas datasource, whole-dataframe batch, one run."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In-memory stores, no data-docs site, no analytics, no tqdm progress bars in logs.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas(name=f"{contract.id}_upload")
    asset = source.add_dataframe_asset(name=contract.table.name)
    batch_definition = asset.add_batch_definition_whole_dataframe(name="whole_upload")
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{contract.id}_validation", data=batch_definition, suite=suite
        )
    )
    return definition.run(batch_parameters={"dataframe": data}, result_format=RESULT_FORMAT)


def _failing_lines(result: Any) -> np.ndarray:
    index_list = (result.result or {}).get("unexpected_index_list") or []
    lines: list[Any] = []
    for entry in index_list:
        value = entry.get(LINE_NUMBER) if isinstance(entry, dict) else entry
        if isinstance(value, list | tuple | np.ndarray):
            lines.extend(value)
        elif value is not None:
            lines.append(value)
    return np.asarray(lines, dtype="int64")


def _gx_rejections(
    results: Sequence[Any],
    raw: pd.DataFrame,
    line_numbers: pd.Index,
) -> tuple[list[pd.DataFrame], list[dict[str, Any]]]:
    frames: list[pd.DataFrame] = []
    summaries: list[dict[str, Any]] = []
    for result in results:
        config = result.expectation_config
        meta = config.meta or {}
        column = meta.get("column")
        columns = meta.get("columns")
        info = result.exception_info or {}
        if info.get("raised_exception"):
            raise RuntimeError(
                f"GX expectation {config.type} ({column or columns}) failed to run: "
                f"{info.get('exception_message')}"
            )
        lines = _failing_lines(result)
        summaries.append(
            {
                "expectation_type": config.type,
                "rule": meta.get("rule"),
                "column": column if column is not None else ", ".join(columns or []),
                "success": bool(result.success),
                "unexpected_count": int((result.result or {}).get("unexpected_count") or 0),
                "element_count": (result.result or {}).get("element_count"),
            }
        )
        if result.success:
            continue
        if len(lines) == 0:
            # A failing table-level expectation (e.g. a column missing): not row-level.
            raise ContractViolation(meta.get("message") or f"{config.type} failed")
        positions = line_numbers.get_indexer(lines)
        template: str = meta.get("message") or f"{meta.get('rule')} failed"
        if column is not None:
            values = raw[column].to_numpy()[positions]
            shown = [repr(v) for v in values]
        else:
            key = raw[list(columns or [])].iloc[positions]
            values = [None] * len(lines)
            shown = [
                "(" + ", ".join(repr(v) for v in row) + ")" for row in key.itertuples(index=False)
            ]
        messages = [template.replace("{value}", s) for s in shown]
        frames.append(
            _rejection_frame(
                lines, [column] * len(lines), values, [meta["rule"]] * len(lines), messages
            )
        )
    return frames, summaries


def malformed_rejections(frame: pd.DataFrame) -> list[RowRejection]:
    """The records of ``frame`` flagged in its ``_malformed`` column (rule ``field_count``)."""
    if MALFORMED not in frame.columns:
        return []
    flagged = frame.loc[frame[MALFORMED].notna(), [LINE_NUMBER, MALFORMED]]
    return [
        RowRejection(line_number=int(line), rule=FIELD_COUNT_RULE, message=str(message))
        for line, message in flagged.itertuples(index=False)
    ]


def _suite(contract: DataContract, as_of: dt.date, *, check_unique_key: bool) -> Any:
    """The contract's GX suite; without its ``uniqueCombination`` expectations when
    ``check_unique_key`` is false."""
    suite = expectation_suite(contract, as_of=as_of)
    if check_unique_key:
        return suite
    import great_expectations as gx

    kept = [
        expectation
        for expectation in suite.expectations
        if not isinstance(expectation, gx.expectations.ExpectCompoundColumnsToBeUnique)
    ]
    return gx.ExpectationSuite(
        name=suite.name, expectations=kept, meta={**(suite.meta or {}), "unique_key": False}
    )


def validate_frame(
    contract: DataContract,
    frame: pd.DataFrame,
    *,
    as_of: dt.date,
    check_unique_key: bool = True,
) -> ValidationOutcome:
    """Validate an upload's rows against ``contract``.

    ``frame`` holds the file's values as strings (stripped, None where empty),
    one column per contract column present in the file (absent optional columns
    are fine) and an int ``line_number`` column. Records that could not be split
    into the header's fields carry their problem in an optional ``_malformed``
    column (None for the others): they count as read and are rejected with rule
    ``field_count`` without being checked further. ``as_of`` is the day the
    upload was received (dates after it break ``mustNotBeInFuture``).

    ``check_unique_key=False`` leaves the table's ``uniqueCombination`` rules (the
    within-file natural-key check, ``unique_key`` for sales uploads) out of the GX
    suite: lines sharing a key are then all accepted, to be aggregated by the caller.

    Raises ``ContractViolation`` when a required column is missing.
    """
    _check_frame(contract, frame)
    malformed = malformed_rejections(frame)
    rows = frame if not malformed else frame.loc[frame[MALFORMED].isna()]
    line_numbers = pd.Index(rows[LINE_NUMBER].astype("int64").to_numpy())
    raw = _raw_columns(contract, rows)

    # line_number goes first: for every failing row GX looks the id column up by a
    # linear scan of the frame's columns, so first place keeps that scan to one step.
    typed: dict[str, pd.Series] = {LINE_NUMBER: pd.Series(line_numbers.to_numpy(), index=raw.index)}
    rejection_frames: list[pd.DataFrame] = []
    for prop in contract.properties:
        values, invalid = coerce_series(prop.logical_type, raw[prop.name])
        typed[prop.name] = values
        if invalid.any():
            bad = raw[prop.name][invalid]
            rejection_frames.append(
                _rejection_frame(
                    line_numbers[invalid.to_numpy()],
                    [prop.name] * len(bad),
                    bad.tolist(),
                    [LOGICAL_TYPE_RULE] * len(bad),
                    [failure_message(prop.name, prop.logical_type, v) for v in bad],
                )
            )
    data = pd.DataFrame(typed, index=raw.index)

    suite = _suite(contract, as_of, check_unique_key=check_unique_key)
    run = _run_gx(suite, data, contract)
    gx_frames, summaries = _gx_rejections(run.results, raw, line_numbers)

    type_failures = pd.concat(rejection_frames) if rejection_frames else empty_rejections()
    failed_cells = set(zip(type_failures["line_number"], type_failures["column"], strict=True))
    for i, gx_frame in enumerate(gx_frames):
        if failed_cells and (gx_frame["rule"] == REQUIRED_RULE).all():
            keep = [
                (line, column) not in failed_cells
                for line, column in zip(gx_frame["line_number"], gx_frame["column"], strict=True)
            ]
            gx_frames[i] = gx_frame[keep]

    malformed_frame = _rejection_frame(
        [r.line_number for r in malformed],
        [r.column for r in malformed],
        [r.value for r in malformed],
        [r.rule for r in malformed],
        [r.message for r in malformed],
    )
    parts = [f for f in [type_failures, *gx_frames, malformed_frame] if not f.empty]
    rejections = pd.concat(parts, ignore_index=True) if parts else empty_rejections()
    order = {name: i for i, name in enumerate(contract.column_names)}
    position = rejections["column"].map(order).fillna(len(order))
    rejections = (
        rejections.assign(_position=position)
        .sort_values(["line_number", "_position"], kind="stable")
        .drop(columns="_position")
        .reset_index(drop=True)
    )

    rejected_lines = pd.Index(rejections["line_number"].unique())
    keep_rows = ~line_numbers.isin(rejected_lines)
    accepted = data.loc[keep_rows, [*contract.column_names, LINE_NUMBER]].reset_index(drop=True)
    for prop in contract.properties:
        accepted[prop.name] = accepted[prop.name].astype(_final_dtype(prop))
    accepted[LINE_NUMBER] = accepted[LINE_NUMBER].astype("int64")

    return ValidationOutcome(
        accepted=accepted,
        rejections=rejections,
        rows_read=len(frame),
        rows_accepted=len(accepted),
        rows_rejected=len(rejected_lines),
        expectation_results=summaries,
    )
