# Sourced by the README's commands: creates the virtualenv on first use, installs
# what requirements/ pins when it changed, and sets the embedded default's
# environment. Everything it writes lives under .local/ (ignored by git).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A relative state folder is taken from where the command was run, made absolute:
# Airflow's SQLite URL and the task processes (other working folders) need that.
for var in INTEGRITY_LOCAL_DIR INTEGRITY_TEST_LOCAL_DIR; do
  if [ -n "${!var:-}" ]; then export "$var=$(realpath -m -- "${!var}")"; fi
done
cd "$ROOT"
export INTEGRITY_LOCAL_DIR="${INTEGRITY_LOCAL_DIR:-$ROOT/.local}"
VENV="${INTEGRITY_VENV:-$ROOT/.venv}"
mkdir -p "$INTEGRITY_LOCAL_DIR"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha256"
# What the install depends on: the pins, and the packages' metadata without the tools' settings
# ([tool.*] but setuptools': ruff, mypy, pytest), so that tuning a check reinstalls nothing.
want="$(cat requirements/*.txt \
  <(awk 'FNR == 1 { keep = 1 } /^\[/ { keep = $0 !~ /^\[tool\./ || $0 ~ /^\[tool\.setuptools/ } keep' \
        pyproject.toml tooling/pyproject.toml) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing requirements/cpu.txt and the project into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements/cpu.txt -c requirements/constraints.txt
  # The pipeline library (src/integrity_risk) and the local tooling (tooling/), editable:
  # workers' images install only the library.
  "$VENV/bin/python" -m pip install --quiet --no-deps -e . -e tooling
  "$VENV/bin/python" -m pip check
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export SPARK_HOME="$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
