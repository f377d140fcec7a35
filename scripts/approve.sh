#!/usr/bin/env bash
# Answer a promotion approval as a reviewer, with a reason:
#   scripts/approve.sh <risk> <promotion run id> --reason "why" [--reject] [--as reviewer2]
# The demo prints the command with the run of integrity_<risk>_promotion that asks.
source "$(dirname "$0")/env.sh"
exec python -m integrity_local.cli approve "$@"
