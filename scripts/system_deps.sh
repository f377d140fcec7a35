#!/usr/bin/env bash
# What the README's commands need besides Python, installed with apt when missing:
#   scripts/system_deps.sh demo   a JDK 17: Spark runs on it, and the local HiveServer2 compiles
#                                 the Hive classes Spark 4 lacks with its javac (include/hive_compat)
#   scripts/system_deps.sh test   that, plus redis-server (the Feast tests' online store),
#                                 chromium (renders the evaluation report), docker-compose
#                                 (validates the at-scale topology), Maven (fetches the Kafka
#                                 broker's jars and the metastore's JDBC driver), and PostgreSQL
#                                 and unshare (util-linux), which run that topology as processes
#                                 (scripts/topology.sh)
# scripts/demo.sh and scripts/test.sh run it first; with everything present it only checks.
set -euo pipefail

# One line per need: the commands that satisfy it (any one), then the Debian package.
demo_needs=("javac openjdk-17-jdk-headless")
test_needs=("${demo_needs[@]}"
  "redis-server redis-server"
  "chromium chromium-browser chromium"
  "docker-compose docker-compose"
  "pg_ctlcluster postgresql"
  "mvn maven"
  "unshare util-linux")

case "${1:-}" in
  demo) needs=("${demo_needs[@]}") ;;
  test) needs=("${test_needs[@]}") ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

packages=()
missing=()
for need in "${needs[@]}"; do
  read -r -a words <<< "$need"
  package="${words[-1]}"
  found=""
  for cmd in "${words[@]:0:${#words[@]}-1}"; do
    if command -v "$cmd" >/dev/null; then found=1; break; fi
  done
  if [ -z "$found" ]; then packages+=("$package"); missing+=("${words[0]}"); fi
done
[ ${#packages[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "error: ${missing[*]} not found, and no apt-get to install them: install the packages" \
       "${packages[*]} (Debian's names) with this system's package manager, then run again" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "error: ${missing[*]} not found; installing ${packages[*]} needs root:" \
         "run as root \`apt-get install -y ${packages[*]}\`, then run again" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "==> installing ${packages[*]} with apt-get (${missing[*]} not found)"
"${sudo[@]}" apt-get update -qq
# env: sudo drops the caller's environment, and a prompt would hang a CI job.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
