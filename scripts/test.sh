#!/usr/bin/env bash
# The test suite against real local services. See README.md.
source "$(dirname "$0")/env.sh"
exec python -m pytest "$@"
