#!/usr/bin/env bash
# The at-scale topology of docker-compose.yaml as processes on this machine, without Docker:
# PostgreSQL, Redis, a Spark standalone cluster under the Thrift Server (metastore on
# PostgreSQL), an MLflow server, and Airflow with the CeleryExecutor and two workers
# (queues default and gpu). The workers, the HiveServer2 and the Spark worker each run in
# a mount namespace of their own; they share only the storage root. See
# tooling/src/integrity_local/topology.py.
#
#   scripts/topology.sh up       start it (state under .local/topology), print its addresses
#   scripts/topology.sh test     the end-to-end test on a fresh topology of its own (tests/topology)
#   scripts/topology.sh status   which components answer
#   scripts/topology.sh down     stop it
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  up | down | status)
    bash "$ROOT/scripts/system_deps.sh" test
    source "$ROOT/scripts/env.sh"
    exec python -m integrity_local.topology "$1"
    ;;
  test)
    shift
    exec "$ROOT/scripts/test.sh" "$ROOT/tests/topology" "$@"
    ;;
  *)
    echo "usage: $0 up|test|status|down" >&2
    exit 2
    ;;
esac
