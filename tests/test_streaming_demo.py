"""The demo's streaming step: who it picks and what it publishes (``integrity_local.streaming_demo``).

The step itself runs the broker, the job and a trained candidate: ``scripts/demo.sh --streaming``.
"""

from __future__ import annotations

import pyarrow.parquet as pq

from integrity_local.streaming_demo import (
    CARD_TEST_AMOUNT,
    PROXIES_PER_ACCOUNT,
    BurstPlan,
    burst_events,
    ordinary_accounts,
)
from integrity_local.synthetic import WorldConfig, write_world
from integrity_local.synthetic.live import upstream_columns


def test_the_burst_is_card_testing_from_proxies_and_the_controls_browse(tmp_path):
    plan = BurstPlan(burst=["a1", "a2"], control=["c1", "c2", "c3"], payments_per_account=50)
    rows = burst_events(plan, seed=3)

    assert all(set(row) == set(upstream_columns()) for row in rows)
    assert len({row["event_id"] for row in rows}) == len(rows) == 2 * 50 + 3 * plan.control_events_per_account
    burst = [row for row in rows if row["account_id"] in plan.burst]
    control = [row for row in rows if row["account_id"] in plan.control]
    assert {row["event_type"] for row in burst} == {"payment_attempt"}
    assert all(CARD_TEST_AMOUNT[0] <= row["amount"] <= CARD_TEST_AMOUNT[1] for row in burst)
    assert 0.6 < sum(row["status"] == "fail" for row in burst) / len(burst) < 0.9
    for account in plan.burst:
        ips = {row["ip"] for row in burst if row["account_id"] == account}
        assert 1 < len(ips) <= PROXIES_PER_ACCOUNT
    assert "payment_attempt" not in {row["event_type"] for row in control}
    assert {len({row["ip"] for row in control if row["account_id"] == a}) for a in plan.control} == {1}
    # Ids new on every call: the job takes an id it saw within its watermark for a retry and drops it.
    assert not {row["event_id"] for row in rows} & {row["event_id"] for row in burst_events(plan, seed=3)}


def test_the_step_picks_ordinary_benign_accounts_of_the_world(tmp_path):
    files = write_world(WorldConfig(seed=5, start_ds="2026-03-01", days=1, n_accounts=400), tmp_path / "world")
    truth = pq.read_table(files.ground_truth).to_pandas().set_index("account_id")

    picked = ordinary_accounts(tmp_path / "world", 10, seed=1)

    assert len(set(picked)) == 10
    assert set(truth.loc[picked, "truth"]) == {"benign"} and set(truth.loc[picked, "benign_trait"]) == {"none"}
    assert picked == ordinary_accounts(tmp_path / "world", 10, seed=1)
