"""Automatic gates: thresholds from a risk's YAML ``gates:`` section checked against shadow-eval metrics.

Gates (all optional; a risk's YAML sets those it wants)::

    gates:
      max_pr_auc_drop: 0.01        # candidate PR-AUC >= champion's interval low end - 0.01
      min_pr_auc: 0.2              # candidate PR-AUC >= 0.2 (absolute)
      min_recall_at_fpr: 0.3       # candidate recall at the operating FPR >= 0.3 (absolute)
      max_slice_recall_drop: 0.1   # no judged slice loses more than 0.1 recall vs the champion
      max_decision_flip_rate: 0.05 # at most 5% of accounts change decision
      max_psi: 0.25                # score distribution shift vs the champion

Relative gates compare with the champion and do not apply when there is none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ABSOLUTE_GATES = ("min_pr_auc", "min_recall_at_fpr")
RELATIVE_GATES = ("max_pr_auc_drop", "max_slice_recall_drop", "max_decision_flip_rate", "max_psi")
KNOWN_GATES = ABSOLUTE_GATES + RELATIVE_GATES


class GateFailure(Exception):
    """One or more gates failed; the message names each gate, its figure and its bound."""

    def __init__(self, failures: list[GateResult]) -> None:
        self.failures = failures
        super().__init__("automatic gates failed: " + "; ".join(f.message for f in failures))


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool | None  # None: the gate does not apply (e.g. no champion)
    figure: float | None
    bound: float
    message: str

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
    for name in KNOWN_GATES:
        if name not in gates:
            continue
        bound = gates[name]
        if name in RELATIVE_GATES and not champ:
            results.append(GateResult(name, None, None, bound, f"{name} not applied: no champion yet"))
        elif name == "min_pr_auc":
            results.append(_result(name, cand["pr_auc"], bound, at_most=False, what="candidate PR-AUC"))
        elif name == "min_recall_at_fpr":
            results.append(_result(name, cand["recall_at_fpr"], bound, at_most=False,
                                   what=f"candidate recall at FPR {metrics['operating_fpr']}"))
        elif name == "max_pr_auc_drop":
            # Worse than the champion beyond the champion's own bootstrap interval (plus the allowance).
            low = (champ.get("pr_auc_ci") or [None])[0]
            low = champ["pr_auc"] if low is None else low
            results.append(_result(name, cand["pr_auc"], low - bound, at_most=False,
                                   what=f"candidate PR-AUC (champion {_f(champ['pr_auc'])}, interval low {_f(low)})"))
        elif name == "max_decision_flip_rate":
            results.append(_result(name, overall.get("flip_rate"), bound, at_most=True, what="decision flip rate"))
        elif name == "max_psi":
            results.append(_result(name, overall.get("psi"), bound, at_most=True, what="PSI of candidate vs champion scores"))
        elif name == "max_slice_recall_drop":
            results.append(_slice_gate(metrics, bound))
    return results


def _slice_gate(metrics: dict, bound: float) -> GateResult:
    """The worst recall drop over the slices that are large enough to judge."""
    judged = [s for s in metrics["slices"] if s.get("status") == "ok" and s.get("recall_drop") is not None]
    if not judged:
        return GateResult("max_slice_recall_drop", None, None, bound,
                          "max_slice_recall_drop not applied: no slice large enough to judge")
    worst = max(judged, key=lambda s: s["recall_drop"])
    return _result("max_slice_recall_drop", worst["recall_drop"], bound, at_most=True,
                   what=f"recall drop in slice {worst['dimension']}={worst['value']}")


def check_gates(metrics: dict, gates: dict | None) -> list[GateResult]:
    """Evaluate the gates and raise ``GateFailure`` if any applicable gate failed."""
    results = evaluate_gates(metrics, gates)
    failures = [r for r in results if r.passed is False]
    if failures:
        raise GateFailure(failures)
    return results
