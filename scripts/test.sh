#!/usr/bin/env bash
# The test suite against real local services. See README.md.
# Installs what the tests run besides Python (scripts/system_deps.sh) when missing.
# Tests keep their state in .local/test, apart from the demo's.
set -euo pipefail
bash "$(dirname "$0")/system_deps.sh" test
export INTEGRITY_LOCAL_DIR="${INTEGRITY_TEST_LOCAL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.local/test}"
source "$(dirname "$0")/env.sh"

# Given no test paths (the whole suite), three sessions, one after the other: tests/e2e,
# tests/topology (a second deployment, its own state folder and ports), then the rest. Each
# keeps two cores busy; side by side they took longer than one after the other (measured on
# 2 cores: the e2e about 3,300 s beside the topology, 1,229 s alone; the topology 2,506 s
# beside the e2e, 1,238 s alone).
# INTEGRITY_TEST_SERIAL=1 runs everything in one session.
for arg in "$@"; do
  if [[ "$arg" == tests* || -e "$arg" ]]; then
    exec python -m pytest "$@"
  fi
done
if [[ "${INTEGRITY_TEST_SERIAL:-}" == 1 ]]; then
  exec python -m pytest "$@"
fi
set +e
python -m pytest tests/e2e "$@"
e2e=$?
INTEGRITY_LOCAL_DIR="$INTEGRITY_LOCAL_DIR-topology" python -m pytest tests/topology "$@"
topology=$?
python -m pytest --ignore=tests/e2e --ignore=tests/topology "$@"
rest=$?
set -e
# pytest's exit status 5 is "no tests collected": a -m or -k that selects none in that session.
for rc in "$e2e" "$topology" "$rest"; do
  if ((rc != 0 && rc != 5)); then exit "$rc"; fi
done
