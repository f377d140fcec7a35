"""Online retrieval: a risk type's features for a batch of accounts, as the scorer reads them.

    python -m integrity_risk.features.online --risk fraud --account-pk <pk> [--account-pk <pk> ...]

Accounts are given by ``account_pk`` (the pseudonymized key), never by raw id.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from feast import FeatureStore


def default_feature_service(risk_type: str) -> str:
    """The service a risk type's model reads unless told otherwise: its YAML's ``training_set.feature_service``."""
    from integrity_risk.config.risk import risk_config

    return risk_config(risk_type).training_set.feature_service


def fetch_online_features(
    risk_type: str,
    account_pks: Sequence[str],
    feature_service: str | None = None,
    store: FeatureStore | None = None,
    profile: str | None = None,
) -> pd.DataFrame:
    """The online features of ``account_pks``: one row per account, in the given order.

    Columns: ``account_pk`` then the service's features as ``<view>__<feature>``
    (the training set's names); an account unknown online, or whose rows are older
    than the view's TTL, gets nulls.

    :param risk_type: e.g. ``fraud``; picks the service its YAML names by default.
    :param account_pks: pseudonymized account keys.
    :param feature_service: another service to read, e.g. ``all_risks``.
    :param store: an open ``FeatureStore`` (default: the configured profile's).
    :param profile: Feast profile when ``store`` is not given.
    """
    from integrity_risk.features.feast_store import feature_store, get_feature_service, service_feature_refs

    if isinstance(account_pks, str):
        raise TypeError("account_pks must be a sequence of keys, not one string")
    store = store or feature_store(profile)
    name = feature_service or default_feature_service(risk_type)
    # The cached registry: a scorer must not read the registry file on every request.
    service = get_feature_service(store, name, allow_cache=True)
    frame = store.get_online_features(
        features=service,
        entity_rows=[{"account_pk": pk} for pk in account_pks],
        full_feature_names=True,
    ).to_df()
    return frame[["account_pk", *service_feature_refs(service)]]


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
