"""Online retrieval: a risk type's features for a batch of accounts, as the scorer reads them.

    python -m integrity_risk.features.online --risk fraud --account-pk <pk> [--account-pk <pk> ...]

Accounts are given by ``account_pk`` (the pseudonymized key), never by raw id.
"""

from __future__ import annotations

import argparse
import sys
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from feast import FeatureStore

    from integrity_risk.features.online_reader import ServiceReader


# A scorer reads once per request: parsing the risk's YAML and rebuilding the service from
# the registry's protos each time cost more than the read itself (bench/bench_feast.py).
_default_services: dict[tuple[str, int], str] = {}
_readers: weakref.WeakKeyDictionary[FeatureStore, dict[str, tuple[float, ServiceReader]]] = weakref.WeakKeyDictionary()


def default_feature_service(risk_type: str) -> str:
    """The service a risk type's model reads unless told otherwise: its YAML's ``training_set.feature_service``."""
    from integrity_risk.config.risk import risk_config, risks_dir

    try:
        version = (risks_dir() / f"{risk_type}.yaml").stat().st_mtime_ns
    except OSError:
        version = -1  # risk_config below names the missing file
    key = (f"{risks_dir()}/{risk_type}", version)
    if key not in _default_services:
        _default_services[key] = risk_config(risk_type).training_set.feature_service
    return _default_services[key]


def _service_reader(store: FeatureStore, name: str) -> ServiceReader:
    """The reader of service ``name``, rebuilt from the store's cached registry.

    At most once per registry cache TTL (``cache_ttl_seconds``), as Feast refreshes its own cache.
    """
    from integrity_risk.features.feast_store import get_feature_service
    from integrity_risk.features.online_reader import ServiceReader

    per_store = _readers.setdefault(store, {})
    now = time.monotonic()
    hit = per_store.get(name)
    if hit is None or now - hit[0] >= (store.config.registry.cache_ttl_seconds or 0):
        hit = per_store[name] = (now, ServiceReader(store, get_feature_service(store, name, allow_cache=True)))
    return hit[1]


def fetch_online_features(
    risk_type: str,
    account_pks: Sequence[str],
    feature_service: str | None = None,
    store: FeatureStore | None = None,
    profile: str | None = None,
) -> pd.DataFrame:
    """The online features of ``account_pks``: one row per account, in the given order.

    Columns: ``account_pk`` then the service's features as ``<view>__<feature>``
    (the training set's names); an account unknown online gets nulls. As Feast, it
    serves an account's newest row of a daily view whatever its age (a view's TTL bounds
    training sets); a view a stream writes is read within its TTL, as training sets read it
    (``ServiceReader``; a service only Feast's own path can read gets Feast's answer).

    :param risk_type: e.g. ``fraud``; picks the service its YAML names by default.
    :param account_pks: pseudonymized account keys.
    :param feature_service: another service to read, e.g. ``all_risks``.
    :param store: an open ``FeatureStore`` (default: the configured profile's).
    :param profile: Feast profile when ``store`` is not given.
    """
    from integrity_risk.features.feast_store import feature_store

    if isinstance(account_pks, str):
        raise TypeError("account_pks must be a sequence of keys, not one string")
    store = store or feature_store(profile)
    name = feature_service or default_feature_service(risk_type)
    reader = _service_reader(store, name)
    if not reader.unsupported:
        return reader.read(account_pks)
    frame = store.get_online_features(
        features=reader.service,
        entity_rows=[{"account_pk": pk} for pk in account_pks],
        full_feature_names=True,
    ).to_df()
    return frame[reader.columns]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integrity_risk.features.online",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--risk", required=True, help="risk type, e.g. fraud")
    parser.add_argument(
        "--account-pk",
        action="append",
        required=True,
        dest="account_pks",
        help="pseudonymized account key; repeat for several",
    )
    parser.add_argument("--feature-service", default=None, help="default: the one the risk's YAML names")
    parser.add_argument("--profile", default=None, help="Feast profile: local, local_redis, production")
    args = parser.parse_args(argv)

    import pandas as pd

    from integrity_risk.features.feast_store import FeastSetupError

    try:
        frame = fetch_online_features(args.risk, args.account_pks, args.feature_service, profile=args.profile)
    except FeastSetupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with pd.option_context("display.max_columns", None, "display.width", 200):
        # One account per column reads better than dozens of feature columns.
        print(frame.set_index("account_pk").T.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
