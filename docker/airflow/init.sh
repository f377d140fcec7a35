#!/usr/bin/env bash
# One-shot initialisation of the deployment (the airflow-init service): checks
# that the secrets the pipelines need are in place, migrates the metadata
# database, and creates the pools the DAGs use. Safe to run again.
set -euo pipefail

: "${AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION:?the docker secret airflow_conn_integrity_pseudonymization is missing or empty: create docker/secrets/airflow_conn_integrity_pseudonymization (see docs/deploy.md)}"

echo "==> airflow db migrate"
airflow db migrate

# Pools cap concurrent HiveServer2 queries (extract, quality gate) and GPU
# training jobs across all DAGs; the DAG factory assigns tasks to them.
# shared_tables and feast stay at one slot: two writers of one partition of a shared
# table nest their files (dag_factory.SHARED_TABLES_POOL), and two writers of Feast's
# file registry each rewrite it whole from what they read, so one's update is lost.
echo "==> pools"
airflow pools set hiveserver2 "${INTEGRITY_POOL_HIVESERVER2_SLOTS:-4}" "Concurrent queries on HiveServer2 (extract, quality gate)"
airflow pools set shared_tables 1 "Writes of the tables all risks share (clean.user_events, features.account_daily, features.labels)"
airflow pools set gpu "${INTEGRITY_POOL_GPU_SLOTS:-1}" "Concurrent training jobs on the GPU workers (queue gpu)"
airflow pools set feast 1 "Feast apply and materialization (registry writes)"
airflow pools list

echo "==> Airflow is initialised"
