"""The graph features' lift: the same training set with and without ``graph_daily``, beside LightGBM.

    python bench/graph_lift.py --risk abusive_account --ds 2026-11-30 [--service abusive_account_v2] \\
        [--truth .local/synthetic/<world>/truth/ground_truth.parquet] [--seeds 3] [--fpr 0.01] [--n-bootstrap 1000]
    python bench/graph_lift.py --risk fake_engagement --training-set <folder of a set built with a _v2 service>

With ``--ds`` it builds the risk's training set of that day with the service (default
``<risk>_v2``) from the Feast profile of the environment (after ``scripts/demo.sh --risk
<risk>``, with ``source scripts/env.sh`` and, for ``--truth``, the demo's key:
``export AIRFLOW_CONN_INTEGRITY_PSEUDONYMIZATION="{\"conn_type\": \"generic\", \"password\":
\"$(cat .local/secrets/pseudonymization.key)\"}"``: the features the DAG wrote), by the YAML's
parameters, as the DAG's ``training_set`` task does. Its copy without the graph drops the
``graph_daily__*`` columns from every split and from the manifest; nothing else differs: the
same rows, labels and splits.

The models are judged on the test split, or with ``--truth`` (a synthetic world's) on every
account of ``account_daily`` on the test split's days, its features as of each day (Feast),
labelled from the ground truth as ``bench/drift_retraining.py`` does: the split's negatives
are a few per positive, too few for a threshold at an FPR of 1%.

For each training seed it trains the project's model (``run_training``, the YAML's ``model:``
section, a private MLflow under the output folder) on both, and LightGBM on both
(``bench/compare_candidates.py``'s), and scores the same test rows. It prints PR-AUC and
recall at the operating FPR of each, with 90% intervals from a bootstrap over accounts, and
the paired change with minus without the graph (the same resamples for both); also for the
mean of the seeds' scores (``seed_mean``), whose change is not the luck of one seed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # compare_candidates

GRAPH_PREFIX = "graph_daily__"
SPLITS = ("train", "validation", "test")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--risk", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ds", help="build the risk's training set of this day from the environment's Feast profile")
    source.add_argument("--training-set", type=Path, help="a training set folder whose service reads graph_daily")
    parser.add_argument("--service", help="the feature service of --ds (default <risk>_v2)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds of the project's model")
    parser.add_argument(
        "--lookback-days",
        type=int,
        help="the training set's days (default: the YAML's); fewer keep a new history's first days out, "
        "whose graph joins families the full window keeps apart",
    )
    parser.add_argument("--fpr", type=float, default=None, help="operating FPR (default: the YAML's)")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument(
        "--truth",
        type=Path,
        help="the world's ground_truth.parquet: judge on every account of the test days (labelled from it), "
        "not on the test split",
    )
    parser.add_argument("--out", type=Path, default=None, help="working folder (default: a temporary one, removed)")
    return parser.parse_args(argv)


def build_set(risk: str, ds: str, service: str, out: Path, lookback_days: int | None = None) -> Path:
    from integrity_risk.config.risk import risk_config
    from integrity_risk.features.training_set import build_training_set
    from integrity_risk.storage import local_path

    cfg = risk_config(risk)
    manifest = build_training_set(
        risk_type=risk,
        tasks=list(cfg.model.tasks),
        feature_service=service,
        ds=ds,
        output_root=out / "training_sets",
        lookback_days=lookback_days or cfg.training_set.lookback_days,
        validation_days=cfg.training_set.validation_days,
        test_days=cfg.training_set.test_days,
        negatives_per_positive=float(cfg.labels.negatives_per_positive),
        maturity_days=cfg.labels.maturity_days,
        exclusive_of=cfg.labels.exclusive_of,
    )
    return local_path(manifest["path"])


def without_graph(folder: Path, out: Path) -> Path:
    """A copy of the set without the graph's columns; everything else as it is."""
    manifest = json.loads((folder / "manifest.json").read_text())
    graph = [f for f in manifest["features"] if f.startswith(GRAPH_PREFIX)]
    if not graph:
        raise SystemExit(f"{folder}: no {GRAPH_PREFIX}* feature; build it with a service that reads graph_daily")
    out.mkdir(parents=True)
    for split in SPLITS:
        pd.read_parquet(folder / f"{split}.parquet").drop(columns=graph).to_parquet(out / f"{split}.parquet")
    manifest["features"] = [f for f in manifest["features"] if f not in graph]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def test_days(manifest: dict) -> list[str]:
    """The ``ds`` of the test split's days (its rows' ``event_timestamp`` is the day's ``feature_ts``, ds + 1)."""
    first, last = (pd.Timestamp(t) - pd.Timedelta(days=1) for t in manifest["time_range"]["test"])
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, last, freq="D")]


def population(manifest: dict, risk: str, truth_file: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Every account of ``account_daily`` on the test days, the set's service's features as of
    each day (Feast), labelled from the world's ground truth (``drift_retraining``'s); and each
    row's family in the ground truth (``benign`` or a risk type)."""
    from drift_retraining import test_population

    from integrity_risk.features.feast_store import feature_store, get_feature_service
    from integrity_risk.features.pseudonymize import get_key, pseudonymize

    store = feature_store()
    service = get_feature_service(store, manifest["feature_service"])
    truth = pd.read_parquet(truth_file)
    key = get_key()
    frame = test_population(store, service, None, test_days(manifest), truth, key, risk)
    family = dict(zip((pseudonymize(key, a) for a in truth["account_id"]), truth["truth"], strict=True))
    return frame, frame["account_pk"].map(family)


def print_flagged_by_family(scores: dict, y: np.ndarray, family: pd.Series, fpr: float) -> None:
    """The share of each ground-truth family flagged at the operating threshold: whether the
    graph moves the flags onto the risk's family or onto another family's rings."""
    from integrity_risk.evaluation import metrics as m

    families = sorted(family.unique())
    print(f"\nflagged at the operating threshold (FPR {fpr} over all negatives), share of each family")
    sizes = {name: int((family == name).sum()) for name in families}
    print(f"{'model':10s} {'arm':9s} " + " ".join(f"{f'{name} ({sizes[name]:,})':>26s}" for name in families))
    for model, pair in scores.items():
        for arm in ("no_graph", "graph"):
            flagged = pair[arm] >= m.operating_point(y, pair[arm], fpr).threshold
            shares = [flagged[(family == name).to_numpy()].mean() for name in families]
            print(f"{model:10s} {arm:9s} " + " ".join(f"{share:>26.3f}" for share in shares))


def main(argv: list[str] | None = None) -> None:
    import warnings

    warnings.simplefilter("ignore")  # pandas/keras deprecations: the table at the end is the output
    args = parse_args(argv)
    from compare_candidates import lightgbm_scores

    from integrity_risk.config.model import resolve_config
    from integrity_risk.config.risk import risk_config
    from integrity_risk.evaluation import metrics as m
    from integrity_risk.training.scoring import score
    from integrity_risk.training.train import run_training

    risk_cfg = risk_config(args.risk)
    fpr = args.fpr or risk_cfg.evaluation.operating_fpr
    work = args.out or Path(tempfile.mkdtemp(prefix="graph_lift_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        folder = args.training_set or build_set(
            args.risk, args.ds, args.service or f"{args.risk}_v2", work, args.lookback_days
        )
        sets = {"graph": folder, "no_graph": without_graph(folder, work / "no_graph")}
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
        model_cfg = resolve_config(risk_cfg.model.model_dump(mode="json"), args.risk)
        label = f"label_{args.risk}"
        manifests = {name: json.loads((f / "manifest.json").read_text()) for name, f in sets.items()}
        family = None
        if args.truth:
            test, family = population(manifests["graph"], args.risk, args.truth)
            judged = f"every account of the test days {', '.join(test_days(manifests['graph']))}, ground truth"
        else:
            test = pd.read_parquet(folder / "test.parquet")
            test = test[test[label].notna()].reset_index(drop=True)
            judged = "the test split"
        y = test[label].to_numpy(dtype=float)
        groups = m.group_codes(test["account_pk"])
        scores: dict[str, dict[str, object]] = {}
        for name, f in sets.items():
            for seed in range(args.seeds):
                started = time.perf_counter()
                result = run_training(
                    f, args.risk, {**model_cfg, "seed": seed}, registered_model=f"graph_lift_{args.risk}_{name}"
                )
                scores.setdefault(f"seed{seed}", {})[name] = score(result["model_uri"], test)[
                    f"score_{args.risk}"
                ].to_numpy(dtype=float)
                print(f"  trained {name} seed {seed} in {time.perf_counter() - started:.0f} s", flush=True)
            scores.setdefault("lightgbm", {})[name] = lightgbm_scores(f, manifests[name]["features"], label, test)
        if args.seeds > 1:  # the seeds' mean score: the model less its seed-to-seed spread, the same for both arms
            seeds = [scores[f"seed{seed}"] for seed in range(args.seeds)]
            scores["seed_mean"] = {name: np.mean([s[name] for s in seeds], axis=0) for name in sets}

        graph_features = len(manifests["graph"]["features"]) - len(manifests["no_graph"]["features"])
        print(
            f"\ngraph lift, {args.risk}: {folder}\njudged on {judged}: {len(y):,} rows, {int(y.sum())} positive, "
            f"{int(groups.max()) + 1} accounts; {graph_features} graph features of "
            f"{len(manifests['graph']['features'])}; {args.n_bootstrap} resamples of accounts, 90% intervals, "
            f"operating FPR {fpr}"
        )
        common = dict(target_fpr=fpr, n_bootstrap=args.n_bootstrap, seed=0, groups=groups)
        header = (
            f"{'model':10s} {'PR-AUC no graph':>24s} {'PR-AUC graph':>24s} {'change (paired)':>26s}"
            f" {'recall no graph':>24s} {'recall graph':>24s} {'change (paired)':>26s}"
        )
        print(header)
        for model, pair in scores.items():
            a, b = pair["no_graph"], pair["graph"]
            ci = m.bootstrap_metrics(y, b, a, **common)
            auc = {k: m.pr_auc(y, s) for k, s in pair.items()}
            rec = {k: m.operating_point(y, s, fpr).recall for k, s in pair.items()}
            print(
                f"{model:10s} "
                f"{_ci(auc['no_graph'], ci['champion_pr_auc']):>24s} {_ci(auc['graph'], ci['candidate_pr_auc']):>24s} "
                f"{_ci(auc['graph'] - auc['no_graph'], ci['pr_auc_delta'], sign=True):>26s} "
                f"{_ci(rec['no_graph'], ci['champion_recall_at_fpr']):>24s} "
                f"{_ci(rec['graph'], ci['candidate_recall_at_fpr']):>24s} "
                f"{_ci(rec['graph'] - rec['no_graph'], ci['recall_at_fpr_delta'], sign=True):>26s}"
            )
        if family is not None:
            print_flagged_by_family(scores, y, family, fpr)
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)


def _ci(value: float, interval: list, *, sign: bool = False) -> str:
    f = "{:+.3f}" if sign else "{:.3f}"
    low, high = (f.format(v) if v is not None else "n/a" for v in interval)
    return f"{f.format(value)} [{low}, {high}]"


if __name__ == "__main__":
    main()
