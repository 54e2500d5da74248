"""The landing-zone sensor: every new file content becomes one upload partition and one run."""

import json

import dagster as dg

from forecast_pipeline.defs.ingest.upload_keys import CHECKSUM_DIGITS, sha256_hex, upload_id
from forecast_pipeline.defs.partitions import sales_uploads
from forecast_pipeline.defs.resources import LandingZone

ingest_upload_job = dg.define_asset_job(
    "ingest_upload_job",
    selection=dg.AssetSelection.assets(
        ["raw", "sales_file"], ["validated", "sales_rows"], ["warehouse", "sales_history"]
    ),
    partitions_def=sales_uploads,
    # the three steps form a chain: running them in the run's own process saves each step the
    # start of a process that imports the definitions again (3-10 s per step on 2 cores)
    executor_def=dg.in_process_executor,
    description="Raw copy, contract validation and merge into the sales history of one upload.",
)


@dg.sensor(
    job=ingest_upload_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the landing zone. The cursor maps each file key to the version last seen "
        "(S3 etag, or size and mtime locally); a new or changed file is read and hashed, and its "
        "content becomes a new upload partition unless the same bytes were ingested before."
    ),
)
def landing_zone_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZone
) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    known = {
        key[-CHECKSUM_DIGITS:]
        for key in context.instance.get_dynamic_partitions(sales_uploads.name)
    }
    new_uploads: list[str] = []
    for landing_file in landing.list_files():
        if seen.get(landing_file.key) == landing_file.version:
            continue
        checksum = sha256_hex(landing.read_bytes(landing_file.key))
        seen[landing_file.key] = landing_file.version
        if checksum[:CHECKSUM_DIGITS] in known:
            context.log.info(f"{landing_file.key}: same bytes as an earlier upload, not ingested")
            continue
        known.add(checksum[:CHECKSUM_DIGITS])
        new_uploads.append(upload_id(landing_file.key, checksum))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=upload, partition_key=upload, tags={"upload": upload})
            for upload in new_uploads
        ],
        dynamic_partitions_requests=(
            [sales_uploads.build_add_request(new_uploads)] if new_uploads else []
        ),
        cursor=json.dumps(seen, sort_keys=True),
    )
