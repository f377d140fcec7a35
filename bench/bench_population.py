"""Population scoring: accounts per second and peak memory, scored by champion and candidate.

    python bench/bench_population.py [--accounts 100000,1000000] [--batch-accounts 100000]

On a private warehouse (under <local>/bench_population) it writes two days of
``account_daily`` and ``fraud_daily`` for the largest population (real schemas, hex
``account_pk`` as the extract writes them), registers two models of the fraud YAML's
architecture (untrained weights of two seeds: scoring costs the same) in a private MLflow
registry, then, for each population size, in a process of its own, runs what shadow_eval
runs: ``PopulationScoring`` over the day, one account range at a time (the service's
features read from the warehouse, its on-demand view computed, both models scoring, each
range written as parquet), plus the PSI reference of the training window. It prints the
accounts per second of the whole pass, and the process's peak resident memory: flat in
the population when a range holds at most ``--batch-accounts`` accounts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WINDOW, DAY = "2026-03-01", "2026-03-02"
CHUNK = 250_000  # accounts per parquet file written


def _write_tables(warehouse: Path, accounts: int) -> None:
    """Days WINDOW and DAY of account_daily and fraud_daily for ``accounts`` accounts, random values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrity_local.feature_frames import arrow_schema, random_partition

    for k, ds in enumerate((WINDOW, DAY)):
        for table in ("features.account_daily", "features.fraud_daily"):
            folder = warehouse / "features.db" / table.split(".", 1)[1] / f"ds={ds}"
            folder.mkdir(parents=True, exist_ok=True)
            for start in range(0, accounts, CHUNK):
                pks = [hashlib.sha256(b"a%d" % i).hexdigest() for i in range(start, min(start + CHUNK, accounts))]
                frame = random_partition(table, pks, ds, seed=k * 1000 + start)
                data = pa.Table.from_pandas(frame, schema=arrow_schema(table), preserve_index=False)
                pq.write_table(data, folder / f"part-{start // CHUNK:05d}.parquet")


def _register_models(service, sample) -> list[str]:
    """Two models of the fraud YAML's architecture on the service's features; their URIs."""
    import keras
    import mlflow
    import yaml

    from integrity_risk.config.model import resolve_config
    from integrity_risk.paths import include_dir
    from integrity_risk.training.data import FeatureSpec
    from integrity_risk.training.model import build_model
    from integrity_risk.training.registry import log_and_register

    section = yaml.safe_load((include_dir() / "risks" / "fraud.yaml").read_text())["model"]
    cfg = resolve_config(section, "fraud")
    numeric = [n for n in service.names if sample[n].dtype.kind in "biuf"]
    categorical = [n for n in service.names if n not in numeric]
    spec = FeatureSpec(numeric=numeric, log=[], categorical=categorical, labels={t: f"label_{t}" for t in cfg["tasks"]})
    uris = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        with mlflow.start_run():
            version = log_and_register(build_model(cfg, spec, sample), "integrity_bench_population", {})["version"]
        uris.append(f"models:/integrity_bench_population/{version}")
    return uris


def _score_once(accounts: int, batch_accounts: int, uris: list[str], out: Path) -> dict:
    """One pass of population scoring over DAY's ``accounts`` accounts (in this process: its own peak memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrity_risk.evaluation.drift import service_features
    from integrity_risk.evaluation.population import PopulationScoring, hive_readers, reference_sample
    from integrity_risk.features.training_set import AccountRange
    from integrity_risk.training.scoring import score

    service = service_features("fraud_v1", "local")
    read, count = hive_readers(service, "local", "hiveserver2_default")
    warm = read([DAY], AccountRange("", "001")).head(10)
    for uri in uris:  # loading and tracing, outside the timing
        score(uri, warm)
    written = [0]

    def sink(day, frame):
        table = pa.Table.from_pandas(frame[["account_pk", "candidate_score", "champion_score"]], preserve_index=False)
        pq.write_table(table, out / f"part-{written[0]:05d}.parquet")
        written[0] += 1

    column = "score_fraud"
    scoring = PopulationScoring(
        risk_type="fraud",
        service=service,
        candidate=lambda frame: score(uris[0], frame)[column].to_numpy(dtype=float),
        champion=lambda frame: score(uris[1], frame)[column].to_numpy(dtype=float),
        thresholds=(0.5, 0.5),
        read=read,
        count=count,
        batch_accounts=batch_accounts,
    )
    start = time.perf_counter()
    reference = reference_sample(read, count, [WINDOW])
    figures = scoring.run([DAY], reference, sink)
    seconds = time.perf_counter() - start
    return {
        "accounts": figures["accounts"],
        "seconds": seconds,
        "rate": figures["accounts"] / seconds,
        "ranges": written[0],
        "max_feature_psi": figures["max_feature_psi"],
        "flagged": [figures["candidate_flagged"], figures["champion_flagged"]],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="100000,1000000", help="population sizes, comma-separated")
    parser.add_argument("--batch-accounts", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from integrity_risk.paths import local_dir

    root = local_dir() / "bench_population"
    registry = root / "mlflow"
    os.environ["INTEGRITY_FEAST_PROFILE"] = "local"
    os.environ["MLFLOW_TRACKING_URI"] = os.environ["MLFLOW_REGISTRY_URI"] = f"sqlite:///{registry / 'mlflow.db'}"

    if args.child:
        job = json.loads(args.child)
        os.environ["INTEGRITY_FEATURE_WAREHOUSE"] = str(root / f"warehouse-{job['accounts']}")
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(_score_once(job["accounts"], args.batch_accounts, job["uris"], Path(tmp))))
        return

    sizes = [int(s) for s in args.accounts.split(",")]
    shutil.rmtree(root, ignore_errors=True)
    registry.mkdir(parents=True)
    began = time.perf_counter()
    for size in sizes:
        _write_tables(root / f"warehouse-{size}", size)
    print(
        f"wrote 2 days x 2 tables of {', '.join(f'{s:,}' for s in sizes)} accounts in {time.perf_counter() - began:.0f} s"
    )
    os.environ["INTEGRITY_FEATURE_WAREHOUSE"] = str(root / f"warehouse-{sizes[0]}")

    from integrity_risk.evaluation.drift import day_features, service_features
    from integrity_risk.features.training_set import AccountRange

    service = service_features("fraud_v1", "local")
    sample = day_features(service, [WINDOW], "local", account_range=AccountRange("", "004"))
    uris = _register_models(service, sample)

    print(f"{len(service.names)} inputs (fraud_v1), two models, batches of at most {args.batch_accounts:,} accounts")
    print(f"{'accounts':>10}{'ranges':>8}{'seconds':>9}{'accounts/s':>12}{'peak RSS MB':>13}")
    for size in sizes:
        job = json.dumps({"accounts": size, "uris": uris})
        done = subprocess.run(
            [sys.executable, __file__, "--batch-accounts", str(args.batch_accounts), "--child", job],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{result['accounts']:>10,}{result['ranges']:>8}{result['seconds']:>9.1f}{result['rate']:>12,.0f}"
            f"{result['peak_rss_mb']:>13,.0f}"
        )
    print(f"(CPU: {os.cpu_count()} cores; read + on-demand view + both models + write, the PSI reference included)")


if __name__ == "__main__":
    main()
