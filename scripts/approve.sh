#!/usr/bin/env bash
# Answer a promotion approval as the reviewer: scripts/approve.sh <risk> <run_id> [--reject]
source "$(dirname "$0")/env.sh"
exec python -m integrity_local.cli approve "$@"
