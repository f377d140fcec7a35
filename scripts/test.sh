#!/usr/bin/env bash
# The test suite against real local services. See README.md.
# Installs what the tests run besides Python (scripts/system_deps.sh) when missing.
# Tests keep their state in .local/test, apart from the demo's.
set -euo pipefail
bash "$(dirname "$0")/system_deps.sh" test
export INTEGRITY_LOCAL_DIR="${INTEGRITY_TEST_LOCAL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.local/test}"
source "$(dirname "$0")/env.sh"
exec python -m pytest "$@"
