"""Parse time of each DAG file in dags/ beside an empty DAG file's, as a ratio.

    source scripts/env.sh && python bench/bench_dag_parse.py [--repeats 5] [--dags dags]

Each measurement runs in a fresh interpreter, as the dag-processor parses each file
in a fresh child process:

- parse: what the dag-processor's child does with one file, timed alone. The child
  first imports ``airflow.dag_processing.processor`` and pre-imports the Airflow
  modules the file names (the manager does both before it forks the child, so they
  are not part of a file's parse), then ``_parse_file`` runs: the DAG stability
  check, ``BundleDagBag`` (importing the file), and the serialization of its DAGs.
- cold import: the file run with ``runpy`` in an interpreter that has imported
  nothing yet (Airflow's import included): what a first ``python dags/x.py`` costs.

The reference is a DAG with one ``EmptyOperator``, written to a temporary folder.
Every figure is the median of ``--repeats`` runs; ``AIRFLOW_HOME`` is a temporary
folder, so no database or config of a running Airflow is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMPTY_DAG = '''\
"""An empty DAG: the reference of bench_dag_parse.py."""
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="bench_empty", schedule=None):
    EmptyOperator(task_id="noop")
'''

# Run in a fresh interpreter: argv[1] is the DAG file. Prints one JSON line.
PARSE_CHILD = """\
import json, os, sys, time
os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "client"  # as _parse_file_entrypoint sets it
from pathlib import Path
import structlog
from airflow.dag_processing import processor
path = sys.argv[1]
log = structlog.get_logger(logger_name="bench")
processor._pre_import_airflow_modules(path, log)  # the manager's part, before the fork
msg = processor.DagFileParseRequest(file=path, bundle_path=Path(path).parent, bundle_name="bench")
t0 = time.perf_counter()
result = processor._parse_file(msg, log)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "dags": len(result.serialized_dags),
                  "errors": {str(k): str(v)[-400:] for k, v in (result.import_errors or {}).items()}}))
"""

COLD_CHILD = """\
import time
t0 = time.perf_counter()
import runpy, sys, json
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])  # the bundle folder, as the dag-processor adds it
runpy.run_path(sys.argv[1], run_name="__bench_dag__")
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def child(code: str, path: Path, env: dict[str, str]) -> dict:
    """Run ``code`` on ``path`` in a fresh interpreter and return its JSON line."""
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"measuring {path} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def measure(path: Path, repeats: int, env: dict[str, str]) -> tuple[float, float, int]:
    """Median parse seconds, median cold-import seconds and the DAGs found in ``path``."""
    parses, colds, dags = [], [], 0
    for _ in range(repeats):
        out = child(PARSE_CHILD, path, env)
        if out["errors"] or not out["dags"]:
            raise RuntimeError(f"{path} did not parse into a DAG: {out['errors'] or 'no DAG found'}")
        parses.append(out["seconds"])
        dags = out["dags"]
        colds.append(child(COLD_CHILD, path, env)["seconds"])
    return statistics.median(parses), statistics.median(colds), dags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters per file and measure")
    parser.add_argument("--dags", type=Path, default=ROOT / "dags", help="folder of the DAG files")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    files = sorted(p for p in args.dags.glob("*.py") if not p.name.startswith("_"))
    if not files:
        parser.error(f"no DAG files in {args.dags}")

    with tempfile.TemporaryDirectory(prefix="bench_dag_parse_") as tmp:
        empty = Path(tmp) / "dags" / "empty_dag.py"
        empty.parent.mkdir()
        empty.write_text(EMPTY_DAG)
        env = dict(
            os.environ,
            AIRFLOW_HOME=str(Path(tmp) / "airflow"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__DAGS_FOLDER=str(args.dags.resolve()),
        )
        base_parse, base_cold, _ = measure(empty, args.repeats, env)
        rows = [(path.name, *measure(path, args.repeats, env)) for path in files]

    print(
        f"DAG parse time, median of {args.repeats} fresh interpreters each "
        f"(parse = dag-processor child's _parse_file; cold = runpy in a bare interpreter)"
    )
    head = (
        f"{'file':32s} {'dags':>4s} {'parse s':>8s} {'empty s':>8s} {'ratio':>6s} "
        f"{'cold s':>7s} {'empty s':>8s} {'ratio':>6s}"
    )
    print(head)
    print("-" * len(head))
    print(
        f"{'(empty DAG, one EmptyOperator)':32s} {1:4d} {base_parse:8.3f} {base_parse:8.3f} {1:6.1f} "
        f"{base_cold:7.3f} {base_cold:8.3f} {1:6.1f}"
    )
    for name, parse_s, cold_s, dags in rows:
        print(
            f"{name:32s} {dags:4d} {parse_s:8.3f} {base_parse:8.3f} {parse_s / base_parse:6.1f} "
            f"{cold_s:7.3f} {base_cold:8.3f} {cold_s / base_cold:6.1f}"
        )


if __name__ == "__main__":
    main()
