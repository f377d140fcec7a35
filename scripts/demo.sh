#!/usr/bin/env bash
# The main job on the embedded default. See README.md.
# Installs the JDK the local HiveServer2 needs (scripts/system_deps.sh) when missing.
set -euo pipefail
bash "$(dirname "$0")/system_deps.sh" demo
source "$(dirname "$0")/env.sh"
exec python -m integrity_local.cli demo "$@"
