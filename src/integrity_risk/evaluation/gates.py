"""Automatic gates: thresholds from a risk's YAML ``gates:`` section checked against shadow-eval metrics.

Gates (all optional; a risk's YAML sets those it wants)::

    gates:
      max_pr_auc_drop: 0.01        # fails when the paired interval of candidate - champion PR-AUC lies below -0.01
      min_pr_auc: 0.2              # candidate PR-AUC >= 0.2 (absolute)
      min_recall_at_fpr: 0.3       # candidate recall at the operating FPR >= 0.3 (absolute)
      max_slice_recall_drop: 0.1   # no judged slice's paired interval of the recall drop lies above 0.1
      max_decision_flip_rate: 0.05 # at most 5% of accounts change decision
      max_psi: 0.25                # score distribution shift vs the champion
      min_labelled_positives: 30   # the evidence a labelled gate needs (see below)
      max_alert_volume_change: 2.0 # the candidate flags at most 2x, and at least 1/2x, the champion's accounts
      max_feature_psi: 1.0         # no input's PSI, training window vs the run's day, above 1.0

The decision flips, the alert volume and the input PSI are judged on the evaluation days'
whole population (shadow_eval's ``population``, when it scored one): how many accounts
approval changes, not how the labelled few moved. Without a population the flip rate
falls back to the labelled rows', and the two population gates do not apply.

Relative gates compare with the champion and do not apply when there is none.

The labelled gates (PR-AUC, recall and their changes) are judged only on enough
evidence: at least ``min_labelled_positives`` labelled positives, and for recall at
the operating FPR at least ``1 / FPR`` labelled negatives (with fewer, no threshold
has that false-positive rate: 71 negatives place it at 0 or 1.4 %). Short of it, a
gate that would pass, or whose point estimate misses its bound while its interval
still reaches it, does not pass: it reports NOT ENOUGH EVIDENCE with the counts, the
run goes on to the reviewer, and the summary's first line says so. Only a verdict the
interval settles still fails (the whole interval past the bound). A few dozen labels
decide neither way: a run stopped on them hid from the reviewer a candidate that the
next day's labels would have passed, and a pass on them showed PR-AUC 1.000 on four
positives.

The two comparative gates judge the paired bootstrap interval of the difference (both
models on the same resamples of the same accounts), not point estimates: a gate fails
when the interval shows the candidate worse by more than the allowance. A point
estimate on a few dozen positives moves by chance; failing on it stopped equally good
models before a reviewer saw them, and comparing the candidate's point with the
champion's own interval passed models whose paired interval was clearly worse. What
stays uncertain is the reviewer's to weigh: the report shows every interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

ABSOLUTE_GATES = ("min_pr_auc", "min_recall_at_fpr")
RELATIVE_GATES = (
    "max_pr_auc_drop",
    "max_slice_recall_drop",
    "max_decision_flip_rate",
    "max_psi",
    "max_alert_volume_change",
)
POPULATION_GATES = ("max_alert_volume_change", "max_feature_psi")
# Judged on labels, so only with enough of them; ``min_labelled_positives`` sets how many.
LABELLED_GATES = ("min_pr_auc", "min_recall_at_fpr", "max_pr_auc_drop", "max_slice_recall_drop")
EVIDENCE = ("min_labelled_positives",)
KNOWN_GATES = ABSOLUTE_GATES + RELATIVE_GATES + ("max_feature_psi",) + EVIDENCE


class GateFailure(Exception):
    """One or more gates failed; the message names each gate, its figure and its bound."""

    def __init__(self, failures: list[GateResult]) -> None:
        self.failures = failures
        super().__init__("automatic gates failed: " + "; ".join(f.message for f in failures))


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on a candidate: the figure, the bound, and why."""

    gate: str
    passed: bool | None  # None: the gate does not apply (e.g. no champion), or not enough evidence
    figure: float | None
    bound: float
    message: str
    not_enough_evidence: str | None = None  # what the evidence lacks, when that is why it did not pass

    def as_dict(self) -> dict:
        return asdict(self)


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _result(gate, figure, bound, *, at_most: bool, what: str) -> GateResult:
    # A figure that could not be computed (e.g. recall without positives) fails: no evidence, no pass.
    passed = figure is not None and (figure <= bound if at_most else figure >= bound)
    op = "<=" if at_most else ">="
    verdict = "passed" if passed else "FAILED"
    return GateResult(gate, passed, figure, bound, f"{gate} {verdict}: {what} = {_f(figure)}, bound {op} {_f(bound)}")


def validate_gates(gates: dict | None) -> dict[str, float]:
    """Check a ``gates:`` section: known names, numeric bounds. Raises ValueError naming the bad key."""
    gates = dict(gates or {})
    unknown = sorted(set(gates) - set(KNOWN_GATES))
    if unknown:
        raise ValueError(f"unknown gate(s) {unknown}; known gates: {list(KNOWN_GATES)}")
    out = {}
    for name, bound in gates.items():
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ValueError(f"gate {name!r} needs a number, got {bound!r}")
        out[name] = float(bound)
    if out.get("max_alert_volume_change", 2.0) <= 1:
        raise ValueError(
            f"gate 'max_alert_volume_change' needs a ratio above 1 (it bounds both ways), got {out['max_alert_volume_change']}"
        )
    return out


def evaluate_gates(metrics: dict, gates: dict | None) -> list[GateResult]:
    """Every configured gate's result, in a stable order.

    :param metrics: the dict ``evaluation.evaluate.evaluate`` returns (shadow_eval's XCom).
    :param gates: the risk's ``gates:`` section.
    """
    gates = validate_gates(gates)
    overall = metrics["overall"]
    cand = overall["candidate"]
    champ = overall.get("champion")
    results = []
    population = metrics.get("population")
    for name in ABSOLUTE_GATES + RELATIVE_GATES + ("max_feature_psi",):
        if name not in gates:
            continue
        bound = gates[name]
        if name in POPULATION_GATES and not population:
            results.append(
                GateResult(
                    name, None, None, bound, f"{name} not applied: no population scored (shadow_eval's feature_service)"
                )
            )
        elif name in RELATIVE_GATES and not champ:
            results.append(GateResult(name, None, None, bound, f"{name} not applied: no champion yet"))
        elif name == "min_pr_auc":
            results.append(_result(name, cand["pr_auc"], bound, at_most=False, what="candidate PR-AUC"))
        elif name == "min_recall_at_fpr":
            results.append(
                _result(
                    name,
                    cand["recall_at_fpr"],
                    bound,
                    at_most=False,
                    what=f"candidate recall at FPR {metrics['operating_fpr']}",
                )
            )
        elif name == "max_pr_auc_drop":
            results.append(_pr_auc_drop_gate(overall, bound, metrics.get("level", 0.9)))
        elif name == "max_decision_flip_rate":
            if population:
                what = f"decision flip rate on all {population['accounts']} accounts of the evaluation days"
                results.append(_result(name, population.get("flip_rate"), bound, at_most=True, what=what))
            else:
                results.append(
                    _result(
                        name, overall.get("flip_rate"), bound, at_most=True, what="decision flip rate (labelled rows)"
                    )
                )
        elif name == "max_alert_volume_change":
            results.append(_alert_volume_gate(population, bound))
        elif name == "max_feature_psi":
            results.append(_feature_psi_gate(population, bound))
        elif name == "max_psi":
            results.append(
                _result(name, overall.get("psi"), bound, at_most=True, what="PSI of candidate vs champion scores")
            )
        elif name == "max_slice_recall_drop":
            results.append(_slice_gate(metrics, bound))
    return [_judged_on_evidence(r, metrics, gates) for r in results]


def evidence_shortfall(metrics: dict, gates: dict, gate: str) -> str | None:
    """What the labels lack for ``gate`` to be judged, or None when they suffice."""
    positives, labelled = metrics.get("positives"), metrics.get("labeled_rows")
    if gate not in LABELLED_GATES or positives is None or labelled is None:
        return None
    lacks = []
    need = gates.get("min_labelled_positives")
    if need is not None and positives < need:
        lacks.append(f"{positives} labelled positives, fewer than min_labelled_positives {need:g}")
    fpr = metrics.get("operating_fpr")
    if gate == "min_recall_at_fpr" and fpr:
        need_negatives = math.ceil(1 / fpr - 1e-9)
        if labelled - positives < need_negatives:
            lacks.append(
                f"{labelled - positives} labelled negatives, fewer than the {need_negatives} "
                f"that place a threshold at FPR {fpr:g}"
            )
    return "; ".join(lacks) or None


def _judged_on_evidence(result: GateResult, metrics: dict, gates: dict) -> GateResult:
    """``result``, or NOT ENOUGH EVIDENCE where the labels are too few and the interval does not settle it."""
    lacks = evidence_shortfall(metrics, gates, result.gate) if result.passed is not None else None
    if lacks is None or (result.passed is False and _settled_failure(result, metrics)):
        return result
    verdict = "FAILED" if result.passed is False else "passed"
    message = result.message.replace(f"{result.gate} {verdict}:", f"{result.gate} NOT ENOUGH EVIDENCE ({lacks}):", 1)
    return GateResult(result.gate, None, result.figure, result.bound, message, not_enough_evidence=lacks)


def _settled_failure(result: GateResult, metrics: dict) -> bool:
    """A failure the interval settles.

    The interval gates already judge theirs; a point gate's whole interval misses the bound,
    or it has no figure at all (no evidence, no pass).
    """
    if result.gate not in ABSOLUTE_GATES or result.figure is None:
        return True
    key = {"min_pr_auc": "pr_auc_ci", "min_recall_at_fpr": "recall_at_fpr_ci"}[result.gate]
    high = (metrics["overall"]["candidate"].get(key) or [None, None])[1]
    return high is not None and high < result.bound


def _pct(level: float) -> str:
    return f"{100 * level:g}%"


def _pr_auc_drop_gate(overall: dict, bound: float, level: float) -> GateResult:
    """Fails when even the high end of the paired interval of candidate - champion PR-AUC is below -bound."""
    name = "max_pr_auc_drop"
    delta = overall.get("pr_auc_delta")
    low, high = overall.get("pr_auc_delta_ci") or [None, None]
    what = (
        f"PR-AUC change {_signed(delta)} vs the champion, {_pct(level)} paired interval "
        f"[{_signed(low)}, {_signed(high)}]; the interval's high end"
    )
    return _result(name, high, -bound, at_most=False, what=what)


def _alert_volume_gate(population: dict | None, bound: float) -> GateResult:
    """Fails when the candidate flags more than ``bound`` times the champion's accounts, or fewer than ``1/bound``."""
    name = "max_alert_volume_change"
    population = population or {}
    ratio = population.get("alert_volume_ratio")
    cand, champ = population.get("candidate_flagged"), population.get("champion_flagged")
    passed = ratio is not None and 1 / bound <= ratio <= bound
    verdict = "passed" if passed else "FAILED"
    message = (
        f"{name} {verdict}: the candidate flags {cand} accounts against the champion's {champ} on the evaluation "
        f"days, ratio {_f(ratio) if ratio is not None else 'unbounded'}, bound within [{_f(1 / bound)}, {_f(bound)}]"
    )
    return GateResult(name, passed, ratio, bound, message)


def _feature_psi_gate(population: dict | None, bound: float) -> GateResult:
    """Fails when an input's PSI between the candidate's training window and the run's day exceeds ``bound``."""
    name = "max_feature_psi"
    population = population or {}
    psis = [r for r in population.get("feature_psi") or () if r.get("value") is not None]
    if not psis:
        why = population.get("psi_note") or "no feature PSI"
        return GateResult(name, None, None, bound, f"{name} not applied: {why}")
    worst = max(psis, key=lambda r: r["value"])
    return _result(
        name,
        worst["value"],
        bound,
        at_most=True,
        what=f"PSI of input {worst['name']}, the candidate's training window vs the run's day",
    )


def _signed(x) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def _slice_gate(metrics: dict, bound: float) -> GateResult:
    """The slice whose paired interval of the recall drop reaches highest, over the slices large enough to judge."""
    name = "max_slice_recall_drop"
    judged = [
        s for s in metrics["slices"] if s.get("status") == "ok" and (s.get("recall_drop_ci") or [None])[0] is not None
    ]
    if not judged:
        return GateResult(name, None, None, bound, f"{name} not applied: no slice large enough to judge")
    worst = max(judged, key=lambda s: s["recall_drop_ci"][0])
    low, high = worst["recall_drop_ci"]
    what = (
        f"recall drop in slice {worst['dimension']}={worst['value']} {_f(worst['recall_drop'])} "
        f"({worst['positives']} positives), {_pct(metrics.get('level', 0.9))} paired interval "
        f"[{_f(low)}, {_f(high)}]; the interval's low end"
    )
    return _result(name, low, bound, at_most=True, what=what)


def check_gates(metrics: dict, gates: dict | None) -> list[GateResult]:
    """Evaluate the gates and raise ``GateFailure`` if any applicable gate failed."""
    results = evaluate_gates(metrics, gates)
    failures = [r for r in results if r.passed is False]
    if failures:
        raise GateFailure(failures)
    return results
