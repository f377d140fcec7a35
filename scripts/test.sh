#!/usr/bin/env bash
# The test suite against real local services. See README.md.
# Installs what the tests run besides Python (scripts/system_deps.sh) when missing.
# Tests keep their state in .local/test, apart from the demo's.
set -euo pipefail
bash "$(dirname "$0")/system_deps.sh" test
export INTEGRITY_LOCAL_DIR="${INTEGRITY_TEST_LOCAL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.local/test}"
source "$(dirname "$0")/env.sh"

# Given no test paths (the whole suite), tests/topology runs beside the rest in a session of
# its own: a second deployment (its own state folder and ports) that mostly waits on its
# scheduler and workers, so the suite takes about that test's quarter hour less.
# INTEGRITY_TEST_SERIAL=1 runs everything in one session.
for arg in "$@"; do
  if [[ "$arg" == tests* || -e "$arg" ]]; then
    exec python -m pytest "$@"
  fi
done
if [[ "${INTEGRITY_TEST_SERIAL:-}" == 1 ]]; then
  exec python -m pytest "$@"
fi
topology_log="$INTEGRITY_LOCAL_DIR-topology.log"
mkdir -p "$(dirname "$topology_log")"
INTEGRITY_LOCAL_DIR="$INTEGRITY_LOCAL_DIR-topology" python -m pytest tests/topology "$@" >"$topology_log" 2>&1 &
topology=$!
# An interrupt reaches both sessions; pytest then stops each one's services on its way out.
trap 'kill -INT "$topology" 2>/dev/null || true' INT TERM
set +e
python -m pytest --ignore=tests/topology "$@"
rest=$?
wait "$topology"
topology_rc=$?
set -e
((topology_rc == 5)) && topology_rc=0 # pytest's "no tests collected": a -m or -k that selects none there
echo
echo "=== tests/topology (its own session, beside the rest; log $topology_log) ==="
cat "$topology_log"
if ((rest != 0)); then exit "$rest"; fi
exit "$topology_rc"
