#!/usr/bin/env bash
# The main job on the embedded default. See README.md.
source "$(dirname "$0")/env.sh"
exec python -m integrity_local.cli demo "$@"
