#!/bin/sh
# First start of the compose stack's Postgres (an empty data volume): the official image runs the
# scripts of /docker-entrypoint-initdb.d once, after creating POSTGRES_DB (forecast_warehouse).
#
# Creates the other two databases (Dagster's instance storage, MLflow's backend store) and the
# two login roles the warehouse migrations grant to, with their passwords: forecast_reader (BI
# tools, the analytics views) and forecast_api (the API). The migrations create these roles only
# when they are missing, so the passwords set here stay. To change them later see
# deploy/README.md, "Rotate secrets".
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader_password="$FORECAST_READER_PASSWORD" \
    -v api_password="$FORECAST_API_DB_PASSWORD" <<'SQL'
CREATE DATABASE forecast_dagster;
CREATE DATABASE forecast_mlflow;
CREATE ROLE forecast_reader LOGIN PASSWORD :'reader_password';
CREATE ROLE forecast_api LOGIN PASSWORD :'api_password';
SQL
