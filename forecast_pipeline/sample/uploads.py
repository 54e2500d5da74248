"""Quarterly CSV exports of the sample sales, written into a landing directory."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from forecast_pipeline.sample.config import SampleConfig
from forecast_pipeline.sample.sales import SALES_COLUMNS, generate_daily_sales


def upload_file_name(year: int, quarter: int) -> str:
    """File name of one quarter's export, e.g. ``sales_2024_q1.csv``."""
    return f"sales_{year}_q{quarter}.csv"


def sales_to_csv_bytes(sales: pd.DataFrame) -> bytes:
    """Serialise sales rows to the export format as UTF-8 bytes.

    Comma-delimited with a header of exactly ``SALES_COLUMNS``, LF line endings, dates as
    ``YYYY-MM-DD``, booleans as ``true``/``false``, prices and revenue with two decimals, rows
    sorted by date, store_id and product_id.
    """
    rows = sales.loc[:, list(SALES_COLUMNS)].sort_values(
        ["date", "store_id", "product_id"], kind="stable"
    )
    out = rows.assign(
        date=rows["date"].dt.strftime("%Y-%m-%d"),
        on_promotion=np.where(rows["on_promotion"].to_numpy(dtype=bool), "true", "false"),
    )
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n", float_format="%.2f")
    return buffer.getvalue().encode("utf-8")


def _write_if_changed(path: Path, content: bytes) -> None:
    """Atomically write ``content`` to ``path`` unless the file already holds exactly that."""
    if path.is_file() and path.read_bytes() == content:
        return
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_sales_uploads(landing_dir: Path, config: SampleConfig) -> list[Path]:
    """Write the sample's daily sales into ``landing_dir`` as one CSV per calendar quarter.

    Files are named ``sales_<year>_q<quarter>.csv`` (see ``sales_to_csv_bytes`` for the format)
    and only quarters with sales get a file. Output is byte-for-byte deterministic for a config;
    a file that already holds the same bytes is left untouched (content and mtime). Files in
    ``landing_dir`` that this config does not produce are left alone. The directory is created if
    missing. Returns the paths of all quarter files for the config, sorted.
    """
    landing_dir = Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    sales = generate_daily_sales(config)
    year = sales["date"].dt.year.to_numpy()
    quarter = sales["date"].dt.quarter.to_numpy()
    paths = []
    for (y, q), rows in sales.groupby([year, quarter], sort=True):
        path = landing_dir / upload_file_name(int(y), int(q))
        _write_if_changed(path, sales_to_csv_bytes(rows))
        paths.append(path)
    return sorted(paths)
