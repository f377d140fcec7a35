#!/usr/bin/env bash
# Runs once, on the first start of the postgres service (docker-entrypoint-initdb.d):
# one role and one database each for Airflow, the Hive metastore, MLflow and Feast's registry.
# Passwords come from the environment and reach psql as variables, so they are
# quoted by psql (:'var') and never appear in a command line or the log.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}"
: "${HIVE_METASTORE_DB_PASSWORD:?HIVE_METASTORE_DB_PASSWORD is not set}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}"
: "${FEAST_DB_PASSWORD:?FEAST_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v airflow_pw="$AIRFLOW_DB_PASSWORD" \
  -v metastore_pw="$HIVE_METASTORE_DB_PASSWORD" \
  -v mlflow_pw="$MLFLOW_DB_PASSWORD" \
  -v feast_pw="$FEAST_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE hive_metastore LOGIN PASSWORD :'metastore_pw';
CREATE DATABASE metastore OWNER hive_metastore;
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_pw';
CREATE DATABASE mlflow OWNER mlflow;
CREATE ROLE feast LOGIN PASSWORD :'feast_pw';
CREATE DATABASE feast OWNER feast;
SQL
