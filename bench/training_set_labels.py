"""How many sampled negatives of a training set are accounts that enforcement already knew.

Reads a training set the demo built (``<state>/storage/training_sets/<risk>/<ds>``) and the
synthetic world's own ``raw.enforcement_labels`` files, pseudonymizes the raw account ids
with the demo's key, and prints, among the rows sampled as negatives (0.0 on every task,
no label row of their own), those whose account had a label event by the end of ``ds``,
and how many of those were positive. It also prints the world's ground truth for them.

    python bench/training_set_labels.py --state .local --risk fraud --ds 2026-11-28
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads

from integrity_risk.features.pseudonymize import pseudonymize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True, help="the demo's INTEGRITY_LOCAL_DIR")
    parser.add_argument("--risk", default="fraud")
    parser.add_argument("--ds", required=True)
    args = parser.parse_args()

    folder = args.state / "training_sets" / args.risk / args.ds
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = pd.concat([pd.read_parquet(folder / f"{s}.parquet") for s in ("train", "validation", "test")])
    labels = manifest["label_columns"]
    negatives = rows[(rows[labels] == 0.0).all(axis=1)]

    key = (args.state / "secrets" / "pseudonymization.key").read_text().strip().encode()
    (world,) = (args.state / "synthetic").iterdir()
    raw = (
        pads.dataset(world / "raw" / "enforcement_labels", format="parquet", partitioning="hive").to_table().to_pandas()
    )
    end = pd.Timestamp(dt.date.fromisoformat(args.ds) + dt.timedelta(days=1))
    raw = raw[raw["account_id"].notna() & (pd.to_datetime(raw["labeled_at"]) < end)]
    raw["account_pk"] = [pseudonymize(key, a) for a in raw["account_id"]]
    known = set(raw["account_pk"])
    enforced = set(raw.loc[raw["label"] == 1, "account_pk"])

    wrong = negatives[negatives["account_pk"].isin(known)]
    print(
        f"{args.risk} training set of {args.ds}: {len(rows)} rows, {len(negatives)} all-zero rows "
        f"(negatives_sampled {manifest['negatives_sampled']})"
    )
    print(
        f"  all-zero rows of accounts with a label event by the end of {args.ds}: {len(wrong)} "
        f"({wrong['account_pk'].nunique()} accounts)"
    )
    print(f"  ... of accounts with a positive label (any risk): {int(negatives['account_pk'].isin(enforced).sum())}")
    for split in ("train", "validation", "test"):
        part = pd.read_parquet(folder / f"{split}.parquet")
        zero = part[(part[labels] == 0.0).all(axis=1)]
        print(
            f"  {split}: {int(zero['account_pk'].isin(enforced).sum())} of {len(zero)} all-zero rows "
            f"are accounts with a positive label"
        )


if __name__ == "__main__":
    main()
