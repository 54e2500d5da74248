"""Uploaded sales files: raw copy, contract validation (blocking check), merge into history."""

import dataclasses
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from forecast_pipeline.contracts import ContractViolation, load_contract
from forecast_pipeline.defs import freshness
from forecast_pipeline.defs.contracts import contract_metadata
from forecast_pipeline.defs.ingest.upload_keys import sha256_hex, split_upload_id
from forecast_pipeline.defs.partitions import sales_uploads
from forecast_pipeline.defs.resources import Lake, LandingZone, Warehouse
from forecast_pipeline.ingest import check_upload, load_mappings, mapping_for
from forecast_pipeline.warehouse import merge, uploads

OWNERS = ["team:forecasting"]
SALES_CONTRACT = "sales_upload"
CONTRACT_CHECK = "passes_sales_contract"


def raw_key(upload: str) -> str:
    landing_key, _ = split_upload_id(upload)
    return f"raw/sales/{upload}/{landing_key.rsplit('/', 1)[-1]}"


def validated_key(upload: str) -> str:
    return f"validated/sales/upload={upload}/accepted.parquet"


@dg.asset(
    key_prefix="raw",
    partitions_def=sales_uploads,
    group_name="raw",
    kinds={"file", "postgres"},
    owners=OWNERS,
    freshness_policy=freshness.SALES_UPLOADS,
    description=(
        "One uploaded sales file per partition, copied byte for byte into the lake's raw zone "
        "(never overwritten) and recorded in warehouse.uploads with its SHA-256, size, source URI "
        "and received time. Partition key: '<landing key>@<first 12 hex digits of the SHA-256>'."
    ),
)
def sales_file(
    context: dg.AssetExecutionContext, landing: LandingZone, lake: Lake, warehouse: Warehouse
) -> dg.MaterializeResult:
    upload = context.partition_key
    landing_key, checksum_prefix = split_upload_id(upload)
    data = landing.read_bytes(landing_key)
    checksum = sha256_hex(data)
    if not checksum.startswith(checksum_prefix):
        raise dg.Failure(
            description=(
                f"{landing_key} changed since it was registered as {upload}; the sensor registers "
                "the new content as a new upload."
            )
        )
    key = raw_key(upload)
    raw_uri = lake.uri(key) if lake.exists(key) else lake.write_bytes(key, data)
    record = uploads.UploadRecord(
        upload_id=upload,
        filename=landing_key,
        source_uri=landing.uri(landing_key),
        raw_uri=raw_uri,
        checksum_sha256=checksum,
        size_bytes=len(data),
        received_at=datetime.now(UTC),
    )
    with warehouse.connect() as conn:
        newly_registered = uploads.register_upload(conn, record)
    return dg.MaterializeResult(
        metadata={
            "raw_uri": dg.MetadataValue.url(raw_uri),
            "source_uri": record.source_uri,
            "sha256": checksum,
            "size_bytes": len(data),
            "newly_registered": newly_registered,
        }
    )


class ValidationConfig(dg.Config):
    max_rejected_share: float = 0.05
    """An upload with some bad rows passes its good rows only under this share of rejected rows."""


def _markdown_table(frame: pd.DataFrame, limit: int = 20) -> str:
    if frame.empty:
        return "_none_"
    return frame.head(limit).to_markdown(index=False)


@dg.asset(
    key_prefix="validated",
    partitions_def=sales_uploads,
    group_name="validated",
    kinds={"great_expectations", "parquet", "postgres"},
    owners=OWNERS,
    metadata=contract_metadata(SALES_CONTRACT),
    deps=[sales_file],
    check_specs=[
        dg.AssetCheckSpec(
            CONTRACT_CHECK,
            asset=dg.AssetKey(["validated", "sales_rows"]),
            blocking=True,
            description=(
                "The upload is readable, has the contract's required columns and its rejected "
                "share is under the configured threshold; otherwise nothing reaches the history."
            ),
        )
    ],
    description=(
        "The upload's rows checked against data_contracts/sales_upload.yaml with Great "
        "Expectations, after the column mapping of data_contracts/mappings/ that matches the "
        "file (if any). Accepted rows, summed to the daily grain (date, store_id, product_id) "
        "for transaction-level files, go to Parquet in the lake's validated zone; every broken "
        "rule goes to warehouse.upload_rejections with the file's line number. "
        "rows_read = rows_accepted + rows_rejected (file lines)."
    ),
)
def sales_rows(
    context: dg.AssetExecutionContext, config: ValidationConfig, lake: Lake, warehouse: Warehouse
) -> dg.MaterializeResult:
    upload = context.partition_key
    contract = load_contract(SALES_CONTRACT)
    with warehouse.connect() as conn:
        received = uploads.received_at(conn, upload)
    landing_key, _ = split_upload_id(upload)
    mapping = mapping_for(landing_key, load_mappings())
    try:
        parsed, outcome = check_upload(
            lake.read_bytes(raw_key(upload)),
            landing_key,
            contract,
            as_of=received.date(),
            mapping=mapping,
        )
    except ContractViolation as rejected:
        with warehouse.connect() as conn:
            uploads.record_validation(
                conn,
                upload,
                contract_version=contract.version,
                rows_read=0,
                rows_accepted=0,
                rows_rejected=0,
                rejections=pd.DataFrame(),
                rejection_reason=rejected.reason,
            )
        context.log.error(f"upload {upload} rejected: {rejected.reason}")
        return dg.MaterializeResult(
            metadata={"rejected_file": True, "reason": rejected.reason},
            check_results=[
                dg.AssetCheckResult(
                    check_name=CONTRACT_CHECK, passed=False, metadata={"reason": rejected.reason}
                )
            ],
        )

    validated_uri = lake.write_parquet(validated_key(upload), outcome.accepted)
    with warehouse.connect() as conn:
        uploads.record_validation(
            conn,
            upload,
            contract_version=contract.version,
            rows_read=outcome.rows_read,
            rows_accepted=outcome.rows_accepted,
            rows_rejected=outcome.rows_rejected,
            rejections=outcome.rejections,
        )
    share = outcome.rows_rejected / outcome.rows_read if outcome.rows_read else 0.0
    passed = outcome.rows_read > 0 and share <= config.max_rejected_share
    report = pd.DataFrame(outcome.expectation_results)
    counts = {
        "rows_read": outcome.rows_read,
        "rows_accepted": outcome.rows_accepted,
        "rows_rejected": outcome.rows_rejected,
        "rejected_share": round(share, 4),
    }
    return dg.MaterializeResult(
        metadata={
            **counts,
            "dagster/row_count": len(outcome.accepted),
            "column_mapping": mapping.name if mapping else "none (contract column names)",
            "contract_version": contract.version,
            "encoding": parsed.encoding,
            "delimiter": repr(parsed.delimiter),
            "validated_uri": dg.MetadataValue.url(validated_uri),
            "rejections_sample": dg.MetadataValue.md(_markdown_table(outcome.rejections)),
            "validation_report": dg.MetadataValue.md(_markdown_table(report, limit=100)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CONTRACT_CHECK,
                passed=passed,
                metadata={**counts, "max_rejected_share": config.max_rejected_share},
            )
        ],
    )


@dg.asset(
    key_prefix="warehouse",
    partitions_def=sales_uploads,
    group_name="warehouse",
    kinds={"postgres"},
    owners=OWNERS,
    metadata=contract_metadata("sales_history"),
    deps=[sales_rows],
    freshness_policy=freshness.SALES_UPLOADS,
    description=(
        "warehouse.sales_history: the clean daily sales history, one row per (sale_date, "
        "store_id, product_id). Each partition merges one upload's accepted rows; a later upload "
        "of the same key supersedes an earlier one and every row keeps its upload and line. "
        "Also maintains warehouse.products (name, category, first and last sale)."
    ),
)
def sales_history(
    context: dg.AssetExecutionContext, lake: Lake, warehouse: Warehouse
) -> dg.MaterializeResult:
    upload = context.partition_key
    accepted = lake.read_parquet(validated_key(upload))
    with warehouse.connect() as conn:
        counts = merge.merge_upload(conn, upload, accepted)
        total = conn.execute("SELECT count(*) FROM warehouse.sales_history").fetchone()
    return dg.MaterializeResult(
        metadata={
            **dataclasses.asdict(counts),
            "history_rows": int(total[0]) if total else 0,
        }
    )
