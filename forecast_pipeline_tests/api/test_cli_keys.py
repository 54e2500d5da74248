"""``forecast-pipeline api-key create / list / revoke`` in production (FORECAST_WAREHOUSE_URL):
the key is printed once and only its SHA-256 is stored; the API accepts it until revoked."""

from __future__ import annotations

import hashlib
import re

import psycopg
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from forecast_pipeline.cli import main
from forecast_pipeline_tests.api.sample import Warehouse

KEY = re.compile(r"fpk_(?P<key_id>[0-9a-f]{12})\.[A-Za-z0-9_-]{43}")


@pytest.fixture
def cli(published: Warehouse):
    def run(*args: str) -> Result:
        env = {"FORECAST_DEPLOYMENT": "production", "FORECAST_WAREHOUSE_URL": published.url}
        return CliRunner().invoke(main, ["api-key", *args], env=env)

    return run


def _line_of(output: str, key_id: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(key_id)]
    return line


def test_create_list_revoke(cli, published: Warehouse, client: TestClient) -> None:
    created = cli("create", "BI dashboard", "--rate-limit", "5")

    assert created.exit_code == 0, created.output
    intro, key, *rest = created.output.splitlines()
    assert rest == []
    match = KEY.fullmatch(key)
    assert match, key
    key_id = match["key_id"]
    assert intro == f"created key {key_id} for 'BI dashboard'; store it now, it is not kept:"

    # stored: the SHA-256 of the key, and nowhere the key or its secret
    with psycopg.connect(published.url) as conn:
        row = conn.execute(
            "SELECT name, key_hash, rate_limit_per_minute, revoked_at, row_to_json(k)::text "
            "FROM api.api_keys k WHERE key_id = %s",
            (key_id,),
        ).fetchone()
        dump = conn.execute("SELECT string_agg(k::text, ' ') FROM api.api_keys k").fetchone()[0]
    name, key_hash, limit, revoked_at, as_json = row
    assert (name, limit, revoked_at) == ("BI dashboard", 5, None)
    assert bytes(key_hash) == hashlib.sha256(key.encode()).digest()
    secret = key.split(".", 1)[1]
    for text in (as_json, dump):
        assert key not in text and secret not in text
    assert secret.encode() not in bytes(key_hash)

    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    line = _line_of(listed.output, key_id)
    assert "BI dashboard" in line
    assert re.search(r"limit\s+5/min", line)
    assert line.endswith("active")
    assert key not in listed.output and secret not in listed.output
    default = _line_of(listed.output, published.key_id)  # the sample's key: no own limit
    assert re.search(r"limit\s+default/min", default)

    # the API accepts it, until it is revoked
    headers = {"X-API-Key": key}
    assert client.get("/api/v1/forecast/model-info", headers=headers).status_code == 200

    revoked = cli("revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert re.fullmatch(
        rf"revoked key {key_id} \(BI dashboard\) at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\n",
        revoked.output,
    )
    line = _line_of(cli("list").output, key_id)
    assert re.search(r"revoked \d{4}-\d\d-\d\d \d\d:\d\d$", line)
    response = client.get("/api/v1/forecast/model-info", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": f"API key {key_id} was revoked"}

    # revoking again is harmless; the key's id may be given with its prefix
    again = cli("revoke", f"fpk_{key_id}")
    assert again.exit_code == 0, again.output
    assert again.output == revoked.output


def test_a_key_without_a_limit_uses_the_default(cli, published: Warehouse) -> None:
    created = cli("create", "  nightly export  ")

    assert created.exit_code == 0, created.output
    key_id = KEY.fullmatch(created.output.splitlines()[1])["key_id"]
    assert "for 'nightly export'" in created.output  # the name without the blanks
    with psycopg.connect(published.url) as conn:
        (limit,) = conn.execute(
            "SELECT rate_limit_per_minute FROM api.api_keys WHERE key_id = %s", (key_id,)
        ).fetchone()
    assert limit is None


def test_revoking_an_unknown_key_is_a_usage_error(cli) -> None:
    result = cli("revoke", "000000000000")

    assert result.exit_code == 2
    assert "no API key '000000000000'" in result.output


@pytest.mark.parametrize("name", ["", "   "])
def test_a_key_needs_a_name(cli, published: Warehouse, name: str) -> None:
    with psycopg.connect(published.url) as conn:
        (before,) = conn.execute("SELECT count(*) FROM api.api_keys").fetchone()

    result = cli("create", name)

    assert result.exit_code == 2
    assert "an API key needs a name" in result.output
    with psycopg.connect(published.url) as conn:
        (after,) = conn.execute("SELECT count(*) FROM api.api_keys").fetchone()
    assert after == before


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_a_rate_limit_must_be_a_positive_number(cli, limit: str) -> None:
    result = cli("create", "someone", "--rate-limit", limit)

    assert result.exit_code == 2
    assert "--rate-limit" in result.output


def test_production_needs_the_warehouse_url() -> None:
    result = CliRunner().invoke(
        main,
        ["api-key", "list"],
        env={"FORECAST_DEPLOYMENT": "production", "FORECAST_WAREHOUSE_URL": ""},
    )

    assert result.exit_code == 2
    assert "FORECAST_WAREHOUSE_URL not set" in result.output
