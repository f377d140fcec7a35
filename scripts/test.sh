#!/usr/bin/env bash
# The test suite against real local services. See README.md.
# Tests keep their state in .local/test, apart from the demo's.
export INTEGRITY_LOCAL_DIR="${INTEGRITY_TEST_LOCAL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.local/test}"
source "$(dirname "$0")/env.sh"
exec python -m pytest "$@"
