#!/usr/bin/env bash
# The test suite against real local services. See README.md.
# Installs what the tests run besides Python (scripts/system_deps.sh) when missing.
# Tests keep their state in .local/test, apart from the demo's.
set -euo pipefail
bash "$(dirname "$0")/system_deps.sh" test
export INTEGRITY_LOCAL_DIR="${INTEGRITY_TEST_LOCAL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.local/test}"
source "$(dirname "$0")/env.sh"

# Given no test paths (the whole suite), it runs in three sessions, two of them side by side.
# tests/e2e first, alone: its deployment keeps both cores busy, and beside tests/topology each
# took about twice its time alone. Then tests/topology (a second deployment, its own state
# folder and ports) beside the rest, which leave most of a core idle (load 1 to 2 on 2 cores).
# INTEGRITY_TEST_SERIAL=1 runs everything in one session.
for arg in "$@"; do
  if [[ "$arg" == tests* || -e "$arg" ]]; then
    exec python -m pytest "$@"
  fi
done
if [[ "${INTEGRITY_TEST_SERIAL:-}" == 1 ]]; then
  exec python -m pytest "$@"
fi
# pytest's exit status 5 is "no tests collected": a -m or -k that selects none in that session.
passed() { (($1 == 0 || $1 == 5)); }
set +e
python -m pytest tests/e2e "$@"
e2e=$?
set -e
topology_log="$INTEGRITY_LOCAL_DIR-topology.log"
mkdir -p "$(dirname "$topology_log")"
INTEGRITY_LOCAL_DIR="$INTEGRITY_LOCAL_DIR-topology" python -m pytest tests/topology "$@" >"$topology_log" 2>&1 &
topology=$!
# An interrupt reaches both sessions; pytest then stops each one's services on its way out.
trap 'kill -INT "$topology" 2>/dev/null || true' INT TERM
set +e
python -m pytest --ignore=tests/topology --ignore=tests/e2e "$@"
rest=$?
wait "$topology"
topology_rc=$?
set -e
echo
echo "=== tests/topology (its own session, beside the rest; log $topology_log) ==="
cat "$topology_log"
for rc in "$e2e" "$rest" "$topology_rc"; do
  passed "$rc" || exit "$rc"
done
