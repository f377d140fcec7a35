"""When a risk's DAG trains: the ``run_training`` param, the fixed cycle, and the start of a drift.

``model_cycle: on_drift`` trains early, but not on the drifted day itself: a candidate trained
then has no labels of the new behaviour (they arrive days after the abuse, mature for
``maturity_days``, and the newest days go to validation and test). It trains
``retrain_delay_days`` after the day a drift *began* (a drifted day after ``retrain_delay_days``
days without drift), once per drift: a drift that persists (the candidate was rejected, the
attackers kept at it), or one that flickers around its bound, is the fixed cycle's to retrain
on, not a new candidate every few days. The decision reads only ``eval.feature_drift``, so a
re-run or a backfill of a day decides as the first run did.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from integrity_risk.values import parse_ds

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)


def is_cycle_day(ds: str, start_ds: str, cycle_days: int) -> bool:
    """Every ``cycle_days``-th day from the DAG's start date, so a backfill trains on the days the schedule did."""
    elapsed = (parse_ds(ds) - parse_ds(start_ds)).days
    return elapsed >= 0 and elapsed % cycle_days == cycle_days - 1


def drift_began(drifted: Mapping[str, bool], day: str, quiet_days: int = 1) -> bool:
    """Whether a drift began on ``day``: it drifted, and none of the ``quiet_days`` before did.

    :param drifted: ``{ds: whether a figure passed its bound}`` of the days measured; a day
        without figures counts as calm (nothing says it drifted).
    """
    first = parse_ds(day)
    before = [(first - dt.timedelta(days=k)).isoformat() for k in range(1, max(quiet_days, 1) + 1)]
    return drifted.get(day) is True and not any(drifted.get(d) is True for d in before)


def is_model_day(
    run_training: str,
    ds: str,
    start_ds: str,
    cycle_days: int,
    model_cycle: str = "fixed",
    drift_due: bool = False,
) -> bool:
    """Whether this run trains and evaluates a model, or only refreshes features.

    ``run_training`` is the DAG param: "yes" and "no" decide; "auto" trains on the fixed cycle
    and, with ``model_cycle`` "on_drift", on a day a drift is due (``drift_due``: one began
    ``retrain_delay_days`` before). Its candidate meets the same gates and approval as any other.
    """
    if run_training in ("yes", "no"):
        return run_training == "yes"
    if model_cycle == "on_drift" and drift_due:
        return True
    return is_cycle_day(ds, start_ds, cycle_days)


def model_day(
    run_training: str,
    ds: str,
    start_ds: str,
    cycle_days: int,
    model_cycle: str,
    risk_type: str,
    retrain_delay_days: int,
    hiveserver2_conn_id: str = "hiveserver2_default",
    drift_table: str = "eval.feature_drift",
) -> bool:
    """``model_cycle``'s decision: :func:`is_model_day`, with the drift figures read when they can decide it."""
    drift_due = False
    if model_cycle == "on_drift" and run_training == "auto" and not is_cycle_day(ds, start_ds, cycle_days):
        from integrity_risk.hooks.hive import IntegrityHiveServer2Hook

        began = (parse_ds(ds) - dt.timedelta(days=retrain_delay_days)).isoformat()
        quiet = max(retrain_delay_days, 1)  # a drift that began within the last delay has its candidate coming
        first = (parse_ds(began) - dt.timedelta(days=quiet)).isoformat()
        hook = IntegrityHiveServer2Hook(hiveserver2_conn_id=hiveserver2_conn_id)
        drifted = hook.drifted_days(drift_table, risk_type, first, began)
        drift_due = drift_began(drifted, began, quiet)
        log.info(
            "on_drift: %s %s the day %d day(s) before %s (drifted: %s)",
            "a drift began on" if drift_due else "no drift began on",
            began,
            retrain_delay_days,
            ds,
            drifted or "no figures",
        )
    return is_model_day(run_training, ds, start_ds, cycle_days, model_cycle, drift_due)
