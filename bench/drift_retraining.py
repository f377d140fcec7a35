"""Recall after attackers adapt: the champion, a candidate retrained on drift, one on the fixed cycle.

    python bench/drift_retraining.py [--accounts 8000] [--risk-share 0.1] [--days 32] [--cutover-day 15] \\
        [--drift-lag N] [--cycle-days 7] [--test-days 4] [--seeds 2] [--risk fraud] [--fpr 0.01] [--n-bootstrap 500]

On a private state folder (``<local>/bench_drift``) it writes a synthetic world whose five
attack families adapt abruptly on ``start + cutover_day`` (``WorldConfig.cutover_ds``: their
behaviour changes, their volumes do not) and then uses the project's own pieces:

- features: every day's ``account_daily``, ``<risk>_daily`` and (on training days) ``labels``
  extract, rendered from ``include/hql`` and run by DuckDB on the world's parquet files as
  ``bench/bench_extract.py`` does (it checks that DuckDB and the Hive extract agree row for
  row), written where the ``local`` Feast profile reads the warehouse;
- training sets: ``build_training_set`` of the risk's YAML (matured labels, negatives, Feast's
  point-in-time join, time splits) for four days ``ds``:
  (a) the champion: the day before the cut-over;
  (b) at the alert: the day after the cut-over (what ``model_cycle: on_drift`` did before it
      waited for labels: its training set has none of the new behaviour);
  (c) on drift: ``cutover + drift_lag``, by default the YAML's ``retrain_delay_days`` (maturity
      + validation + test + 1 days: the first training set whose train split holds the
      cut-over day);
  (d) the fixed cycle: its first training day at or after the cut-over (a multiple of
      ``cycle_days`` from the world's start);
- models: the project's trainer (``run_training``, the YAML's ``model:`` section, MLflow in the
  state folder) for each, once per training seed (``--seeds``), and LightGBM on the same
  training set beside each (``bench/compare_candidates.py``'s).

The drift the DAG's ``feature_drift`` would report on each day after the champion's training
window is printed first: ``integrity_risk.evaluation.drift``'s figures (every feature's PSI
against the window's population with its noise bound, the champion's flag rate at its
threshold on its test split), on the same files, without HiveServer2.

All models score the same test population: every account with a row of ``account_daily`` on the
last ``test_days`` days of the world (features as of each day's ``feature_ts``, joined by Feast),
labelled from the world's ground truth (1: an account of the risk's family whose abuse has
started; accounts of the family before their abuse starts are left out). The figures are
recall at the operating FPR with 90% intervals from a bootstrap over accounts, and the paired
change of each candidate against the champion (``integrity_risk.evaluation.metrics``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_extract, compare_candidates


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=8000)
    parser.add_argument(
        "--risk-share", type=float, default=0.1, help="share of accounts in the risk's family (others: the default)"
    )
    parser.add_argument("--days", type=int, default=32, help="days of the world")
    parser.add_argument("--start", default="2026-03-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift", type=float, default=0.3, help="the world's gradual drift (per week)")
    parser.add_argument("--cutover-day", type=int, default=15, help="day index of the cut-over (first adapted day)")
    parser.add_argument(
        "--drift-lag", type=int, default=None, help="days after the cut-over of the on_drift run (the YAML's delay)"
    )
    parser.add_argument("--seeds", type=int, default=2, help="training seeds of each TF model")
    parser.add_argument("--cycle-days", type=int, default=7, help="the risk's model_cycle_days")
    parser.add_argument("--test-days", type=int, default=4, help="last days of the world scored")
    parser.add_argument("--risk", default="fraud")
    parser.add_argument("--fpr", type=float, default=0.01)
    parser.add_argument("--n-bootstrap", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--keep", action="store_true", help="keep the state folder afterwards")
    return parser.parse_args(argv)


def schedule(args: argparse.Namespace) -> dict[str, int]:
    """Day indices of the four training runs and the first test day; refuses an overlap."""
    if args.drift_lag is None:
        from integrity_risk.config.risk import risk_config

        args.drift_lag = risk_config(args.risk).drift_retrain_delay_days
    # The DAG trains on days whose index from the start is cycle_days - 1 modulo cycle_days.
    fixed = args.cutover_day + (args.cycle_days - 1 - args.cutover_day) % args.cycle_days
    days = {
        "champion": args.cutover_day - 1,
        "at_alert": args.cutover_day + 1,
        "on_drift": args.cutover_day + args.drift_lag,
        "fixed_cycle": fixed,
    }
    last_training = max(days.values())
    days["test_from"] = args.days - args.test_days
    if days["champion"] < 1 or days["test_from"] <= last_training:
        raise SystemExit(f"the test days must come after every training day: {days} in a {args.days}-day world")
    return days


def extract_days(con, world_dir: Path, warehouse: Path, days: list[str], labels_days: set[str], risk: str) -> None:
    """Each day's extracts through DuckDB into ``warehouse/features.db/<table>/ds=<day>/``."""
    from bench_extract import duckdb_sql

    from integrity_risk.features.pseudonymize import get_key, hmac_pads

    ipad, opad = hmac_pads(get_key())
    for ds in days:
        jobs = [("account_daily", "features/account_daily.hql"), (f"{risk}_daily", f"features/{risk}.hql")]
        if ds in labels_days:
            jobs.append(("labels", "labels.hql"))
        for table, hql in jobs:
            out = warehouse / "features.db" / table / f"ds={ds}" / "part-0.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            sql = duckdb_sql(hql, ds, ipad, opad, out)
            # The partition column lives in the folder name, as in Spark's files.
            sql = sql.replace("COPY (\n", "COPY (SELECT * EXCLUDE (ds) FROM (\n", 1).replace("\n) TO '", "\n)) TO '", 1)
            con.execute(sql)
            _as_spark_writes(out)


def _as_spark_writes(path: Path) -> None:
    """Timestamps as Spark writes a Hive TIMESTAMP (UTC-adjusted microseconds), which Feast's join expects."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    schema = pa.schema(
        [f.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f for f in table.schema]
    )
    pq.write_table(table.cast(schema), path)


def test_population(store, service, warehouse: Path, test_days: list[str], truth, key: bytes, risk: str):
    """Every account of ``account_daily`` on the test days, its features as of that day, ground-truth labels."""
    import pandas as pd

    from integrity_risk.features.feast_store import service_feature_refs
    from integrity_risk.features.pseudonymize import pseudonymize
    from integrity_risk.features.training_set import read_extract

    rows = read_extract("account_daily", test_days, ["account_pk", "feature_ts"])
    entity = rows.rename(columns={"feature_ts": "event_timestamp"}).drop_duplicates()
    joined = store.get_historical_features(entity_df=entity, features=service, full_feature_names=True).to_df()
    truth = truth.assign(account_pk=[pseudonymize(key, a) for a in truth["account_id"]])
    frame = joined.merge(truth[["account_pk", "truth", "abuse_start_ds"]], on="account_pk", how="left")
    if frame["truth"].isna().any():
        raise RuntimeError("test rows whose account_pk is not a pseudonymized ground-truth account")
    day = (pd.to_datetime(frame["event_timestamp"], utc=True) - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")
    family = frame["truth"] == risk
    attacking = family & (frame["abuse_start_ds"] <= day)
    frame = frame[~family | attacking].reset_index(drop=True)
    frame[f"label_{risk}"] = (frame["truth"] == risk).astype(float)
    return frame[["account_pk", "event_timestamp", *service_feature_refs(service), f"label_{risk}"]]


def train_on(folder: Path, risk: str, model_cfg: dict, name: str) -> str:
    from integrity_risk.training.train import run_training

    started = time.perf_counter()
    result = run_training(folder, risk, model_cfg, registered_model=f"bench_drift_{risk}", run_name=name)
    print(f"  trained {name}: version {result['version']} in {time.perf_counter() - started:.0f} s", flush=True)
    return result["model_uri"]


def main(argv: list[str] | None = None) -> None:
    import warnings

    warnings.simplefilter("ignore")  # pandas/dask/keras deprecations: the table at the end is the output
    args = parse_args(argv)
    days_at = schedule(args)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    from integrity_risk.paths import local_dir

    root = local_dir() / "bench_drift"
    shutil.rmtree(root, ignore_errors=True)
    warehouse = root / "warehouse"
    # Everything the project's pieces read from the environment points into the private folder.
    os.environ.update(
        {
            "INTEGRITY_FEAST_PROFILE": "local",
            "INTEGRITY_FEATURE_WAREHOUSE": str(warehouse),
            "INTEGRITY_FEAST_DIR": str(root / "feast"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
            "AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION": json.dumps(
                {"conn_type": "generic", "password": secrets.token_hex(16)}
            ),
        }
    )
    (root / "mlflow").mkdir(parents=True)
    os.environ.pop("INTEGRITY_ALLOW_DEMO_KEY", None)
    try:
        run(args, days_at, root, warehouse)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, days_at: dict[str, int], root: Path, warehouse: Path) -> None:
    import pyarrow.parquet as pq
    from bench_extract import duckdb_connection
    from compare_candidates import lightgbm_scores

    from integrity_local.synthetic import DEFAULT_ATTACK_SHARES, WorldConfig, write_world
    from integrity_risk.config.model import resolve_config
    from integrity_risk.config.risk import risk_config
    from integrity_risk.evaluation import metrics as m
    from integrity_risk.features.feast_store import apply_repo, feature_store, get_feature_service
    from integrity_risk.features.pseudonymize import get_key
    from integrity_risk.features.training_set import build_training_set
    from integrity_risk.storage import local_path
    from integrity_risk.training.scoring import score

    t_all = time.perf_counter()
    start = dt.date.fromisoformat(args.start)

    def ds_of(index: int) -> str:
        return (start + dt.timedelta(days=index)).isoformat()

    cutover_ds = ds_of(args.cutover_day)
    cfg = WorldConfig(
        seed=args.seed,
        start_ds=args.start,
        days=args.days,
        n_accounts=args.accounts,
        drift=args.drift,
        attack_shares={**DEFAULT_ATTACK_SHARES, args.risk: args.risk_share},
        cutover_ds=cutover_ds,
    )
    t0 = time.perf_counter()
    files = write_world(cfg, root / "world")
    print(f"world: {files}; cut-over {cutover_ds} (all five families) in {time.perf_counter() - t0:.0f} s", flush=True)

    risk_cfg = risk_config(args.risk)
    train_ds = {name: ds_of(days_at[name]) for name in ("champion", "at_alert", "on_drift", "fixed_cycle")}
    test_days = [ds_of(i) for i in range(days_at["test_from"], args.days)]
    t0 = time.perf_counter()
    con = duckdb_connection(files.out_dir, args.threads)
    glob = files.out_dir / "raw" / "enforcement_labels" / "ds=*" / "*.parquet"
    con.execute(
        f"CREATE VIEW raw.enforcement_labels AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, "
        "hive_types = {'ds': VARCHAR})"
    )
    con.execute("CREATE MACRO to_date(t) AS CAST(t AS DATE)")  # Spark's to_date(timestamp)
    extract_days(con, files.out_dir, warehouse, cfg.day_list(), set(train_ds.values()), args.risk)
    print(f"extracts of {len(cfg.day_list())} days through DuckDB in {time.perf_counter() - t0:.0f} s", flush=True)

    apply_repo("local", force=True)
    store = feature_store("local")
    service_name = risk_cfg.training_set.feature_service
    service = get_feature_service(store, service_name)
    tasks = list(risk_cfg.model.tasks)
    params = {
        "lookback_days": risk_cfg.training_set.lookback_days,
        "validation_days": risk_cfg.training_set.validation_days,
        "test_days": risk_cfg.training_set.test_days,
        "negatives_per_positive": float(risk_cfg.labels.negatives_per_positive),
        "maturity_days": risk_cfg.labels.maturity_days,
    }
    model_cfg = resolve_config(risk_cfg.model.model_dump(mode="json"), args.risk)
    label = f"label_{args.risk}"
    truth = pq.read_table(files.ground_truth).to_pandas()
    test = test_population(store, service, warehouse, test_days, truth, get_key(), args.risk)
    y = test[label].to_numpy(dtype=float)
    groups = m.group_codes(test["account_pk"])

    scores, sets = {}, {}
    for name, ds in train_ds.items():
        t0 = time.perf_counter()
        manifest = build_training_set(
            risk_type=args.risk,
            tasks=tasks,
            feature_service=service_name,
            ds=ds,
            profile="local",
            output_root=root / "training_sets" / name,
            **params,
        )
        folder = local_path(manifest["path"])
        sets[name] = (ds, manifest, _after_cutover(folder, label, cutover_ds))
        print(f"  training set {name} (ds={ds}) in {time.perf_counter() - t0:.0f} s: rows {manifest['rows']}")
        for seed in range(args.seeds):
            uri = train_on(folder, args.risk, {**model_cfg, "seed": seed}, f"{name}_seed{seed}")
            scores[f"{name}_seed{seed}"] = score(uri, test)[f"score_{args.risk}"].to_numpy(dtype=float)
            if name == "champion" and seed == 0:
                print_daily_drift(args, cfg.day_list(), service_name, folder, manifest, uri, cutover_ds)
        scores[f"{name}_lightgbm"] = lightgbm_scores(folder, manifest["features"], label, test)

    common = dict(target_fpr=args.fpr, n_bootstrap=args.n_bootstrap, seed=0, groups=groups)
    print()
    print(
        f"drift retraining, {args.risk}: {args.accounts:,} accounts ({args.risk_share:.0%} {args.risk}), "
        f"{args.days} days from {args.start}, "
        f"gradual drift {args.drift}/week, cut-over {cutover_ds} (day {args.cutover_day}, every family); "
        f"on_drift {args.drift_lag} days after it, fixed cycle every {args.cycle_days} days"
    )
    print(
        f"test: {len(test_days)} days {test_days[0]}..{test_days[-1]}, {len(y):,} account-days of "
        f"{int(groups.max()) + 1:,} accounts, {int(y.sum())} positive (ground truth); recall at FPR "
        f"{args.fpr}, 90% intervals from {args.n_bootstrap} resamples of accounts; each candidate paired "
        f"with the champion of the same training seed (LightGBM: with the champion's LightGBM)"
    )
    head = (
        f"{'model':12s} {'trained ds':10s} {'train+val pos':>13s} {'after cut':>9s} {'seed':>8s} "
        f"{'recall':>22s} {'vs champion (paired)':>24s}"
    )
    print(head)
    print("-" * len(head))
    for name, (ds, manifest, after) in sets.items():
        pos = manifest["positives_by_split"]
        fitted = pos["train"][args.risk] + pos["validation"][args.risk]
        for seed in [f"seed{s}" for s in range(args.seeds)] + ["lightgbm"]:
            key, base = f"{name}_{seed}", f"champion_{seed}"
            ci = m.bootstrap_metrics(y, scores[key], **common)["candidate_recall_at_fpr"]
            recall = m.operating_point(y, scores[key], args.fpr).recall
            if name == "champion":
                delta = "-"
            else:
                # Paired: each model at its own operating threshold on the whole test population,
                # the same resampled accounts for both (the shadow evaluation's recall-drop interval).
                cand, champ = (m.operating_point(y, scores[k], args.fpr) for k in (key, base))
                drop = m.bootstrap_metrics(
                    y, scores[key], scores[base], thresholds=(cand.threshold, champ.threshold), **common
                )["recall_at_threshold_drop"]
                delta = f"{cand.recall - champ.recall:+.3f} [{0.0 - drop[1]:+.3f}, {0.0 - drop[0]:+.3f}]"
            label_seed = "LightGBM" if seed == "lightgbm" else seed
            print(
                f"{name:12s} {ds:10s} {fitted:13d} {after:9d} {label_seed:>8s} "
                f"{f'{recall:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]':>22s} {delta:>24s}"
            )
    print(
        "train+val pos: positives of the risk in the training set's train and validation splits (what the "
        "model fits and early-stops on); after cut: of them, rows observed after the cut-over"
    )
    print(f"total {time.perf_counter() - t_all:.0f} s")
    print("command: python bench/drift_retraining.py " + " ".join(sys.argv[1:]))


def print_daily_drift(args, days, service_name, folder, manifest, model_uri, cutover_ds) -> None:
    """Each day's drift against the champion's window, as ``feature_drift`` computes it, one line per day."""
    from integrity_risk.evaluation import drift as d
    from integrity_risk.model_cycle import drift_began
    from integrity_risk.training.scoring import score

    def scorer(uri, frame):
        return score(uri, frame)[f"score_{args.risk}"].to_numpy(dtype=float)

    window = d.training_window(manifest)
    service = d.service_features(service_name, "local")
    reference = d.day_features(service, window, "local")
    noise = d.feature_noise(reference, service.names)
    champion = d.Champion(0, model_uri, str(folder), None, "test split", tuple(window))
    threshold = d.threshold_on_test_split(champion, args.risk, args.fpr, scorer)
    ref_scores = scorer(model_uri, reference)
    bounds = d.DriftBounds()
    print(
        f"\ndaily drift against the champion's window {window[0]}..{window[-1]} ({len(reference):,} account-days), "
        f"threshold {'none' if threshold is None else f'{threshold:.4f}'} at FPR {args.fpr} on its test split; "
        f"cut-over {cutover_ds}"
    )
    print(
        f"{'ds':10s} {'drifted':>7s} {'began':>5s} {'flag rate':>9s} {'ratio':>6s} {'max PSI':>7s}  features over bound"
    )
    drifted: dict[str, bool] = {}
    summary: dict = {"noisy_features": {}}
    for ds in days[days.index(window[-1]) + 1 :]:
        day = d.day_features(service, [ds], "local")
        rows = d.feature_psi(reference, day, service.names, noise)
        rows += d.score_figures(ref_scores, scorer(model_uri, day), threshold)
        summary = d.summarize(d.judge(rows, bounds), psi_bound=bounds.max_psi)
        drifted[ds] = summary["drifted"]
        print(
            f"{ds:10s} {str(summary['drifted']):>7s} {str(drift_began(drifted, ds, args.drift_lag)):>5s} "
            f"{summary['flag_rate'] or 0:9.4f} {summary['flag_rate_ratio'] or 0:6.2f} {summary['max_psi'] or 0:7.3f}  "
            f"{', '.join(summary['features_over_bound']) or '-'}",
            flush=True,
        )
    noisy = {k: round(v, 2) for k, v in summary["noisy_features"].items()}  # the same bounds every day
    print(f"bounds raised by a feature's own noise: {noisy or 'none'}\n")


def _after_cutover(folder: Path, label: str, cutover_ds: str) -> int:
    """Positives of the train and validation splits whose features are from the cut-over day on."""
    import pandas as pd

    cut = pd.Timestamp(cutover_ds, tz="UTC") + pd.Timedelta(days=1)  # feature_ts of the cut-over day
    total = 0
    for split in ("train", "validation"):
        part = pd.read_parquet(folder / f"{split}.parquet")
        total += int(((part[label] == 1.0) & (pd.to_datetime(part["event_timestamp"], utc=True) >= cut)).sum())
    return total


if __name__ == "__main__":
    main()
