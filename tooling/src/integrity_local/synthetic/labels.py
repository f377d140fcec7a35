"""``raw.enforcement_labels`` of the whole period: late, incomplete, noisy, sometimes reversed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from integrity_local.synthetic.config import RISK_TYPES
from integrity_local.synthetic.population import DAY_US, LOOKALIKES, NEVER, Population
from integrity_local.synthetic.schema import ENFORCEMENT_LABELS_SCHEMA

SOURCES = ("reviewer", "appeal", "user_report", "chargeback")
_SRC = {s: i for i, s in enumerate(SOURCES)}
# The family a benign lookalike gets (wrongly) reported for or cleared of.
_LOOKALIKE_RISK = {
    "power_user": "scraping",
    "link_business": "spam_redirect",
    "card_fail": "fraud",
    "shared_device": "abusive_account",
    "vpn": "fraud",
}


def generate_labels(pop: Population) -> pa.Table:
    """Every label row with ``labeled_at`` inside the period, sorted by ``labeled_at``.

    Attackers: a ``label_rate`` share is ever labelled, ``label_delay_days`` after the abuse
    began (chargebacks for fraud, user reports for spam and fake engagement, reviewers
    otherwise); reviewers wrongly clear 5% of them, and appeals reverse a few.
    Benign accounts: a ``label_noise`` share is reported (label 1, ``user_report``), most
    of those are reversed by an appeal; a ``clear_rate`` share is reviewed and cleared.
    Lookalikes are several times likelier to be reported or reviewed.
    """
    cfg = pop.cfg
    rng = np.random.default_rng([cfg.seed, 0x1AB])
    lo, hi = cfg.label_delay_days
    rows_acct, rows_risk, rows_label, rows_src, rows_day = [], [], [], [], []

    def add(acct, risk, label, src, day):
        rows_acct.append(np.asarray(acct, dtype=np.int64))
        rows_risk.append(np.broadcast_to(np.asarray(risk, dtype=np.int64), len(rows_acct[-1])))
        rows_label.append(np.broadcast_to(np.asarray(label, dtype=np.int32), len(rows_acct[-1])))
        rows_src.append(np.broadcast_to(np.asarray(src, dtype=np.int64), len(rows_acct[-1])))
        rows_day.append(np.asarray(day, dtype=np.int64))

    attackers = np.flatnonzero(pop.abuse_start_day != NEVER)
    labeled = attackers[rng.random(len(attackers)) < cfg.label_rate]
    risk = pop.family[labeled].astype(np.int64) - 1
    day = pop.abuse_start_day[labeled] + rng.integers(lo, hi + 1, len(labeled))
    u = rng.random(len(labeled))
    src = np.full(len(labeled), _SRC["reviewer"])
    src[(risk == RISK_TYPES.index("fraud")) & (u < 0.7)] = _SRC["chargeback"]
    reported = np.isin(risk, [RISK_TYPES.index("spam_redirect"), RISK_TYPES.index("fake_engagement")])
    src[reported & (u < 0.35)] = _SRC["user_report"]
    wrongly_cleared = (src == _SRC["reviewer"]) & (rng.random(len(labeled)) < 0.05)
    add(labeled, risk, np.where(wrongly_cleared, 0, 1), src, day)
    appealed = ~wrongly_cleared & (rng.random(len(labeled)) < cfg.appeal_rate / 10)
    add(labeled[appealed], risk[appealed], 0, _SRC["appeal"], day[appealed] + rng.integers(1, 7, appealed.sum()))

    benign = np.flatnonzero(pop.family == 0)
    look = pop.lookalike[benign]
    weight = np.where(look > 0, 5.0, 1.0)
    risk_of = np.array([RISK_TYPES.index(_LOOKALIKE_RISK.get(name, "fraud")) for name in LOOKALIKES])
    random_risk = rng.integers(0, len(RISK_TYPES), len(benign))
    b_risk = np.where(look > 0, risk_of[look], random_risk)
    first_day = np.maximum(pop.created_day[benign], 0)
    b_day = (
        first_day
        + (rng.random(len(benign)) * np.maximum(cfg.days - first_day, 1)).astype(np.int64)
        + rng.integers(lo, hi + 1, len(benign)) // 2
    )
    noisy = rng.random(len(benign)) < np.minimum(1.0, cfg.label_noise * weight)
    add(benign[noisy], b_risk[noisy], 1, _SRC["user_report"], b_day[noisy])
    reversed_ = noisy & (rng.random(len(benign)) < cfg.appeal_rate)
    add(benign[reversed_], b_risk[reversed_], 0, _SRC["appeal"], b_day[reversed_] + rng.integers(1, 7, reversed_.sum()))
    cleared = ~noisy & (rng.random(len(benign)) < np.minimum(1.0, cfg.clear_rate * weight / 2))
    add(benign[cleared], b_risk[cleared], 0, _SRC["reviewer"], b_day[cleared])

    acct = np.concatenate(rows_acct)
    day = np.concatenate(rows_day)
    # Appeals come at least a day after the label they reverse, so a newer row wins.
    labeled_us = pop.start_us + day * DAY_US + (rng.random(len(acct)) * (DAY_US - 1)).astype(np.int64)
    keep = (day >= 0) & (day < cfg.days)
    order = np.argsort(labeled_us[keep], kind="stable")
    pick = np.flatnonzero(keep)[order]
    table = pa.table(
        {
            "account_id": pop.account_ids.take(pa.array(acct[pick])),
            "risk_type": pa.array(RISK_TYPES, pa.string()).take(pa.array(np.concatenate(rows_risk)[pick])),
            "label": pa.array(np.concatenate(rows_label)[pick], pa.int32()),
            "source": pa.array(SOURCES, pa.string()).take(pa.array(np.concatenate(rows_src)[pick])),
            "labeled_at": pa.array(labeled_us[pick], pa.timestamp("us")),
        },
        schema=ENFORCEMENT_LABELS_SCHEMA,
    )
    return table
