"""Upload throughput: a generated 1-million-row CSV validated and merged, against a plain COPY.

Both run in the same process on the same server, in fresh databases:

* platform: read the file (encoding, delimiter, line numbers), validate it with the sales
  contract through Great Expectations, and merge the accepted rows into
  warehouse.sales_history (the code path of the validated/sales_rows and
  warehouse/sales_history assets); importing Great Expectations, which each run process does
  once, is timed apart and shown in a second ratio;
* COPY: ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the same bytes into a table of the
  same columns and types with the same primary key.

Usage: .venv/bin/python benchmarks/upload_throughput.py [--rows 1000000] [--server URL]
(the server defaults to FORECAST_POSTGRES_URL, else an embedded one).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg

from forecast_pipeline.contracts import load_contract
from forecast_pipeline.ingest import check_upload
from forecast_pipeline.sample import SampleConfig, generate_daily_sales
from forecast_pipeline.sample.uploads import sales_to_csv_bytes
from forecast_pipeline.warehouse import databases, merge, migrate, uploads

COPY_TABLE = """
CREATE TABLE copy_target (
    sale_date date NOT NULL, store_id text NOT NULL, product_id text NOT NULL,
    product_name text, category text NOT NULL, units integer NOT NULL,
    unit_price numeric(12, 2), revenue numeric(14, 2), on_promotion boolean,
    PRIMARY KEY (sale_date, store_id, product_id)
)
"""


def generate_csv(rows: int) -> bytes:
    products = max(8, int(rows / 870))  # ~870 sale rows per product over 3 years and 2 stores
    frame = generate_daily_sales(SampleConfig(n_products=products, n_stores=2))
    while len(frame) < rows:
        products = int(products * 1.1) + 1
        frame = generate_daily_sales(SampleConfig(n_products=products, n_stores=2))
    return sales_to_csv_bytes(frame.head(rows))


def register(conn: psycopg.Connection, upload_id: str, size: int) -> None:
    """Record a benchmark upload, as the raw asset does before a merge."""
    name = upload_id.split("@")[0]
    checksum = upload_id.split("@")[1].ljust(64, "0")
    record = uploads.UploadRecord(
        upload_id, name, f"file:///{name}", f"file:///{name}", checksum, size, datetime.now(UTC)
    )
    uploads.register_upload(conn, record)


def timed(label: str, timings: dict[str, float], fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    timings[label] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default=os.environ.get("FORECAST_POSTGRES_URL"))
    args = parser.parse_args()
    server = args.server or databases.start_embedded_postgres(
        Path(tempfile.mkdtemp(prefix="upload_bench_")), keep_running=False
    )
    data = generate_csv(args.rows)
    print(f"file: {args.rows:,} rows, {len(data) / 1e6:.1f} MB")

    name = f"upload_bench_{uuid.uuid4().hex[:8]}"
    databases.ensure_database(server, name)
    url = databases.with_database(server, name)
    try:
        migrate.upgrade(url)
        contract = load_contract("sales_upload")
        started = time.perf_counter()
        import great_expectations  # noqa: F401  (paid once per run process, reported apart)

        import_seconds = time.perf_counter() - started
        timings: dict[str, float] = {}
        started = time.perf_counter()
        _, outcome = timed(
            "read + validate (GX)", timings, check_upload, data, "bench.csv", contract,
            as_of=date(2027, 1, 1),
        )  # fmt: skip
        with psycopg.connect(url) as conn:
            register(conn, "bench.csv@000000000000", len(data))
            counts = timed(
                "merge into sales_history", timings, merge.merge_upload, conn,
                "bench.csv@000000000000", outcome.accepted,
            )  # fmt: skip
        platform_seconds = time.perf_counter() - started
        assert outcome.rows_read == args.rows and counts.inserted == outcome.rows_accepted

        # the same days uploaded again (a corrected export): every key is upserted
        with psycopg.connect(url) as conn:
            register(conn, "bench2.csv@111111111111", len(data))
            started = time.perf_counter()
            again = merge.merge_upload(conn, "bench2.csv@111111111111", outcome.accepted)
        upsert_seconds = time.perf_counter() - started
        assert again.method == "upsert" and again.superseded == args.rows

        with psycopg.connect(url) as conn:
            conn.execute(COPY_TABLE)
            started = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy("COPY copy_target FROM STDIN (FORMAT csv, HEADER)") as copy,
            ):
                copy.write(data)
        copy_seconds = time.perf_counter() - started

        platform_rate = args.rows / platform_seconds
        copy_rate = args.rows / copy_seconds
        print(
            f"rows read {outcome.rows_read:,}, accepted {outcome.rows_accepted:,}, "
            f"rejected {outcome.rows_rejected:,}"
        )
        for label, seconds in timings.items():
            print(f"  {label:28s} {seconds:7.2f} s")
        rate = f"{platform_rate:>10,.0f} rows/s"
        print(f"platform (validate + merge)  {platform_seconds:7.2f} s  {rate}")
        print(f"plain COPY                   {copy_seconds:7.2f} s  {copy_rate:>10,.0f} rows/s")
        print(f"platform / COPY rate         {platform_rate / copy_rate:7.1%}  (goal: >= 33%)")
        with_import = args.rows / (platform_seconds + import_seconds) / copy_rate
        print(
            f"merge method: {counts.method}; a corrected re-upload of the same days (upsert, "
            f"old values kept): merge {upsert_seconds:.2f} s, "
            f"{args.rows / (timings['read + validate (GX)'] + upsert_seconds):,.0f} rows/s "
            f"with validation"
        )
        print(
            f"Great Expectations import (once per run process) {import_seconds:.2f} s; "
            f"counting it: {with_import:.1%} of the COPY rate"
        )
    finally:
        databases.drop_database(server, name)


if __name__ == "__main__":
    main()
