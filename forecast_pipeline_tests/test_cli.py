"""The command line: --help everywhere, and the demo end to end (twice) on a given server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from forecast_pipeline.cli import main
from forecast_pipeline.warehouse import databases

COMMANDS = ["demo", "ui", "api", "upload", "migrate", "sample", "env"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert f"Usage: main {command}" in result.output
    summary = result.output.split("\n\n")[1].strip()
    assert len(summary) > 20


def test_upload_puts_files_in_the_landing_zone(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(b"date,product_id\n")
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["upload", str(source)], env={"FORECAST_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert (home / "landing" / "export.csv").read_bytes() == b"date,product_id\n"
    assert not list((home / "landing").glob("*.part"))


def _row_counts(output: str) -> dict[str, int]:
    section = output.split("== Row counts ==")[1].split("==")[0]
    return {
        m.group(1): int(m.group(2).replace(",", ""))
        for m in re.finditer(r"^(\w+\.\w+)\s+([\d,]+)$", section, flags=re.MULTILINE)
    }


@pytest.mark.slow
def test_demo_twice_on_a_given_server(tmp_path: Path, pg_server_url: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "FORECAST_WAREHOUSE_DB": f"fp_demo_wh_{suffix}",
        "FORECAST_DAGSTER_DB": f"fp_demo_dg_{suffix}",
        "FORECAST_MLFLOW_DB": f"fp_demo_ml_{suffix}",
    }
    env = {
        **os.environ,
        **names,
        "FORECAST_HOME": str(tmp_path / "home"),
        "FORECAST_POSTGRES_URL": pg_server_url,
    }
    env.pop("DAGSTER_HOME", None)
    command = [
        sys.executable,
        "-m",
        "forecast_pipeline.cli",
        "demo",
        "--products",
        "16",
        "--stores",
        "1",
    ]
    try:
        first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert first.returncode == 0, first.stderr[-3000:]
        second = subprocess.run(
            [*command, "--weeks", "1"], env=env, capture_output=True, text=True, check=False
        )
        assert second.returncode == 0, second.stderr[-3000:]
    finally:
        for database in names.values():
            databases.drop_database(pg_server_url, database)

    out = first.stdout
    assert "== Top 3 products per category, next week ==" in out
    assert re.search(r"product\s+lightgbm\s+0\.\d+", out)
    assert re.search(r"product\s+seasonal_naive\s+0\.\d+", out)
    assert "MLflow runs: tracking URI postgresql+psycopg://" in out
    gate = out.split("== Promotion gate ==")[1].split("==")[0]
    trained_weeks = re.findall(
        r"^week (\d{4}-\d{2}-\d{2}): (promoted|kept as challenger)", gate, re.M
    )
    assert len(trained_weeks) == 2 and trained_weeks[0][1] == "promoted"
    assert re.search(r"champion forecast_pipeline_ensemble v[12] ", out)
    assert f"lake files: {tmp_path / 'home' / 'lake'}" in out
    counts = _row_counts(out)
    assert counts["warehouse.uploads"] == 13
    assert counts["forecasts.forecast_runs"] == 2  # both trained weeks were published
    assert counts["forecasts.realised_accuracy"] > 0
    accuracy = out.split("== Realised accuracy of week")[1].split("==")[1]
    assert re.search(r"^\s*product\s+\d{4}-\d{2}-\d{2}\s+1\s+\d+\s+\d+\.\d+", accuracy, re.M)
    assert counts["forecasts.top_products"] > 0
    assert "0 new upload(s) ingested in this run" in second.stdout
    assert _row_counts(second.stdout) == counts
