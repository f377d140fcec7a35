#!/usr/bin/env bash
# Answer a promotion approval as a reviewer, with a reason:
#   scripts/approve.sh <risk> <run_id> --reason "why" [--reject] [--as reviewer2]
source "$(dirname "$0")/env.sh"
exec python -m integrity_local.cli approve "$@"
