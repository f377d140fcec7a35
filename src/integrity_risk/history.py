"""Who moved production, when, why, with which figures: the audit log read per event.

Every move of a risk's ``champion`` alias (promotion, rollback, override) writes a
``started`` entry before the alias moves and an end entry after (``integrity_risk.promotion``);
a rejected candidate writes one ``reject`` entry. ``model_history`` folds them into one row
per decision, newest first, for the command line

    integrity-risk history fraud [--json]

and for the page ``/integrity/history/<risk>`` of the Airflow API server (the reports plugin).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from integrity_risk.promotion import STARTED, read_audit

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

UNFINISHED = "unfinished"
# The figures a history row shows, from the entry's headline metrics.
_FIGURES = (
    ("candidate_pr_auc", "PR-AUC"),
    ("champion_pr_auc", "champion PR-AUC"),
    ("candidate_recall_at_fpr", "recall"),
)


def model_history(
    risk_type: str, *, audit_path: str | os.PathLike | ObjectStoragePath | None = None
) -> list[dict[str, Any]]:
    """One row per move of ``risk_type``'s champion (and per rejected candidate), newest first.

    A row is the event's end entry (or its ``started`` entry, with status ``unfinished``,
    while none exists) plus ``requested_at``, when the move started.
    """
    events: dict[str, dict[str, Any]] = {}
    for entry in read_audit(audit_path, risk_type=risk_type):
        event_id = entry.get("event_id") or f"legacy-{len(events)}"
        row = events.setdefault(event_id, {"event_id": event_id, "requested_at": None})
        if entry.get("status") == STARTED:
            row["requested_at"] = entry.get("recorded_at")
            if "status" not in row:
                row.update({**entry, "status": UNFINISHED})
        else:
            row.update(entry)
    rows = list(events.values())
    rows.sort(key=lambda r: str(r.get("recorded_at") or r.get("requested_at") or ""), reverse=True)
    return rows


def figures_text(row: dict) -> str:
    metrics = row.get("metrics") or {}
    parts = [f"{label} {metrics[key]:.3f}" for key, label in _FIGURES if isinstance(metrics.get(key), (int, float))]
    population = metrics.get("population") or {}
    if population.get("candidate_flagged") is not None:
        champion = f" (champion {population['champion_flagged']})" if "champion_pr_auc" in metrics else ""
        parts.append(f"flagged {population['candidate_flagged']}{champion}")
    return ", ".join(parts)


def overridden_text(row: dict) -> str:
    return "; ".join(
        f"{g.get('gate')} = {g.get('figure')} (bound {g.get('bound')})" for g in row.get("overridden") or []
    )


def _champion_move(row: dict) -> str:
    if row.get("action") == "reject":
        return f"v{row.get('version')} not promoted"
    previous = row.get("previous_champion")
    return f"v{previous} → v{row.get('version')}" if previous is not None else f"→ v{row.get('version')}"


def _columns(row: dict) -> list[str]:
    return [
        str(row.get("recorded_at") or row.get("requested_at") or "")[:19].replace("T", " "),
        str(row.get("action", "")),
        str(row.get("status", "")),
        _champion_move(row),
        str(row.get("actor", "")),
        str(row.get("reason") or ""),
        overridden_text(row),
        figures_text(row),
        str(row.get("dag_run_id") or ""),
    ]


HEADERS = ["when (UTC)", "action", "status", "champion", "who", "why", "gates overridden", "figures", "run"]


def history_text(risk_type: str, rows: list[dict]) -> str:
    """The history as a plain-text table for a terminal."""
    if not rows:
        return f"{risk_type}: no move of production recorded\n"
    table = [HEADERS, *(_columns(r) for r in rows)]
    widths = [min(max(len(line[i]) for line in table), 48) for i in range(len(HEADERS))]
    out = [f"{risk_type}: {len(rows)} move(s) of production, newest first"]
    for line in table:
        out.append("  ".join(cell[:48].ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(out) + "\n"


def history_html(risk_type: str, rows: list[dict], *, risks: list[str]) -> str:
    """The history page of ``risk_type``, with links to the other risks' pages."""
    esc = html.escape
    nav = " · ".join(
        f"<b>{esc(r)}</b>" if r == risk_type else f'<a href="{esc(r)}">{esc(r)}</a>' for r in sorted(risks)
    )
    body = "".join(
        "<tr class='{}'>{}</tr>".format(esc(str(r.get("status"))), "".join(f"<td>{esc(c)}</td>" for c in _columns(r)))
        for r in rows
    )
    empty = "" if rows else "<p>No move of production recorded.</p>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Model history: {esc(risk_type)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}}th{{background:#f3f3f3}}
tr.refused td,tr.failed td,tr.unfinished td{{background:#fdecea}}</style></head><body>
<h1>Who moved production: {esc(risk_type)}</h1><p>{nav}</p>
<p>Every promotion, rollback and override of the <code>champion</code> alias, and every rejected candidate,
newest first, from the audit log.</p>
{empty}<table><tr>{"".join(f"<th>{esc(h)}</th>" for h in HEADERS)}</tr>{body}</table></body></html>"""


def main(argv: list[str] | None = None) -> int:
    from integrity_risk.config.risk import all_risk_types

    parser = argparse.ArgumentParser(prog="integrity-risk", description="Integrity risk models: production's history")
    sub = parser.add_subparsers(dest="command", required=True)
    history = sub.add_parser("history", help="who moved a risk's champion, when, why, with which figures")
    history.add_argument("risk", choices=all_risk_types())
    history.add_argument("--json", action="store_true", help="one JSON object per move, newest first")
    args = parser.parse_args(argv)
    rows = model_history(args.risk)
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
    else:
        sys.stdout.write(history_text(args.risk, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
