#!/usr/bin/env bash
# Entrypoint of the Airflow image: turns docker secrets named airflow_conn_<id>
# (mounted under /run/secrets) into AIRFLOW_CONN_<ID> environment variables, then
# hands over to the stock Airflow entrypoint. A secret's value is never printed.
set -euo pipefail

secrets_dir="${INTEGRITY_SECRETS_DIR:-/run/secrets}"
for secret in "$secrets_dir"/airflow_conn_*; do
  [ -f "$secret" ] || continue
  name="$(basename "$secret")"
  var="$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')"
  # A value set explicitly in the environment wins over the file.
  if [ -z "${!var:-}" ]; then
    export "$var"="$(cat "$secret")"
  fi
done

# INTEGRITY_NEXT_ENTRYPOINT lets the tests run this script outside the image.
exec "${INTEGRITY_NEXT_ENTRYPOINT:-/entrypoint}" "$@"
