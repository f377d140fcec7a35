"""The shadow-evaluation report: one self-contained HTML file per run, and a markdown summary.

The HTML embeds its figures as base64 PNGs, so it can be opened from a file path, an
Airflow extra link or an attachment with nothing else beside it. The summary
(``summary.md``) is what the reviewer reads in the approval form.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def reports_root() -> ObjectStoragePath:
    """``<storage root>/reports``: written by the shadow evaluation's worker, served by the API server."""
    from integrity_risk.storage import storage_root

    return storage_root() / "reports"


def report_dir(risk_type: str, run_id: str) -> ObjectStoragePath:
    """``<storage root>/reports/<risk>/<run_id>/`` with the run id made safe for paths and URLs."""
    return reports_root() / _SAFE.sub("_", risk_type) / _SAFE.sub("_", run_id)


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(ci) -> str:
    return "" if not ci or ci[0] is None else f" [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figures(
    metrics: dict, y, candidate, champion, attributions: dict | None, drift_psi=None, max_psi: float | None = None
) -> list[tuple[str, str]]:
    """(title, base64 PNG) of each plot."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    figs = []
    labeled = ~np.isnan(y)
    models = [("candidate", candidate, "tab:blue")]
    if champion is not None:
        models.append(("champion", champion, "tab:orange"))

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, s, color in models:
        p, r, _ = precision_recall_curve(y[labeled], s[labeled])
        ap = metrics["overall"][name]["pr_auc"]
        ax.step(r, p, where="post", color=color, label=f"{name} (PR-AUC {_fmt(ap)})")
        point = metrics["overall"][name]
        if point["recall_at_fpr"] is not None and point["precision_at_threshold"] is not None:
            ax.plot(point["recall_at_fpr"], point["precision_at_threshold"], "o", color=color)
    ax.axhline(y[labeled].mean(), color="grey", ls=":", label="base rate")
    ax.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"Precision-recall (dots: operating FPR {metrics['operating_fpr']})",
    )
    ax.legend(loc="upper right", fontsize=8)
    figs.append(("Precision-recall curves", _png(fig)))

    fig, ax = plt.subplots(figsize=(5.5, 4))
    bins: Any = np.linspace(0, 1, 41) if all(s.min() >= 0 and s.max() <= 1 for _, s, _ in models) else 40
    for name, s, color in models:
        ax.hist(s, bins=bins, alpha=0.5, color=color, label=name)
        t = metrics["overall"][name]["threshold"]
        if t is not None:
            ax.axvline(t, color=color, ls="--")
    psi = metrics["overall"].get("psi")
    ax.set(
        xlabel="score",
        ylabel="accounts",
        yscale="log",
        title="Score distributions" + (f" (PSI {_fmt(psi)})" if psi is not None else ""),
    )
    ax.legend(fontsize=8)
    figs.append(("Score histograms", _png(fig)))

    population = metrics.get("population")
    if population and (population.get("score_histogram") or {}).get("edges"):
        hist = population["score_histogram"]
        edges = np.asarray(hist["edges"], dtype=float)
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for name, _, color in models:
            counts = hist.get(name)
            if counts is None:
                continue
            ax.stairs(np.maximum(np.asarray(counts, dtype=float), 0.5), edges, color=color, label=name, lw=1.5)
            t = (population.get("thresholds") or {}).get(name)
            if t is not None:
                ax.axvline(t, color=color, ls="--")
        ax.set(
            xlabel="score",
            ylabel="accounts",
            yscale="log",
            title=f"Scores of all {population['accounts']:,} accounts (dashed: thresholds)",
        )
        ax.legend(fontsize=8)
        figs.append(("Population score distributions", _png(fig)))

    dims = sorted({s["dimension"] for s in metrics["slices"]})
    if dims:
        fig, axes = plt.subplots(len(dims), 1, figsize=(7, 2.6 * len(dims)), squeeze=False)
        for ax, dim in zip(axes[:, 0], dims, strict=False):
            rows = [s for s in metrics["slices"] if s["dimension"] == dim]
            x = np.arange(len(rows))
            width = 0.38 if champion is not None else 0.6
            for k, (name, _, color) in enumerate(models):
                vals: list[float] = []
                errs: list[list[float]] = [[], []]
                for s in rows:
                    block = s.get(name) or {}
                    v = block.get("recall")
                    lo, hi = block.get("recall_ci") or [None, None]
                    vals.append(0.0 if v is None else v)
                    errs[0].append(0.0 if v is None or lo is None else max(v - lo, 0))
                    errs[1].append(0.0 if v is None or hi is None else max(hi - v, 0))
                ax.bar(
                    x + (k - (len(models) - 1) / 2) * width, vals, width, yerr=errs, capsize=3, color=color, label=name
                )
            for i, s in enumerate(rows):
                if s["status"] != "ok":
                    ax.text(i, 0.02, "too small", rotation=90, ha="center", va="bottom", fontsize=8, color="grey")
            ax.set_xticks(x, [f"{s['value']}\n(n={s['labeled_rows']})" for s in rows], fontsize=8)
            ax.set(ylim=(0, 1.05), ylabel="recall", title=f"Recall at the operating threshold by {dim}")
            ax.legend(fontsize=8)
        fig.tight_layout()
        figs.append(("Recall per slice (90% bootstrap intervals)", _png(fig)))

    if attributions:
        top = list(zip(attributions["features"], attributions["mean_abs"], strict=False))[:15][::-1]
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(top) + 1))
        ax.barh([f for f, _ in top], [v for _, v in top], color="tab:blue")
        ax.set(xlabel="mean |integrated gradients|", title="Top feature attributions (candidate)")
        ax.tick_params(axis="y", labelsize=8)
        figs.append(("Feature attributions", _png(fig)))
    if drift_psi is not None and len(drift_psi):
        figs.append(_drift_heatmap(drift_psi, max_psi))
    return figs


def _drift_heatmap(drift_psi, max_psi: float | None) -> tuple[str, str]:
    """Days x features of the PSI in ``eval.feature_drift``: when, and in which features, the world moved."""
    import matplotlib.pyplot as plt

    grid = drift_psi.pivot_table(index="name", columns="ds", values="value", aggfunc="last").sort_index()
    days, features = list(grid.columns), list(grid.index)
    values = grid.to_numpy(dtype=float)
    top = max(float(np.nanmax(values)) if np.isfinite(values).any() else 0.0, 2 * (max_psi or 0.25))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(days) + 3), max(3.0, 0.22 * len(features) + 1.5)))
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="viridis", vmin=0.0, vmax=top)
    # The cells past their feature's bound, marked: max_psi, or above it where the feature's own
    # day-to-day noise raised it (the drift task's over_bound); else, for older rows, past max_psi.
    if "over_bound" in drift_psi.columns and drift_psi["over_bound"].notna().any():
        flags = drift_psi.assign(over_bound=drift_psi["over_bound"].astype(float)).pivot_table(
            index="name", columns="ds", values="over_bound", aggfunc="last"
        )
        over = np.argwhere(np.nan_to_num(flags.reindex(index=features, columns=days).to_numpy(dtype=float)) == 1)
        label = "past its bound"
    elif max_psi is not None:
        over, label = np.argwhere(np.nan_to_num(values) > max_psi), f"PSI > {max_psi:g}"
    else:
        over, label = np.empty((0, 2), dtype=int), ""
    if len(over):
        ax.scatter(over[:, 1], over[:, 0], marker="x", color="red", s=14, label=label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.15, 1.0), fontsize=8)
    ax.set_xticks(range(len(days)), days, rotation=90, fontsize=7)
    ax.set_yticks(range(len(features)), features, fontsize=7)
    fig.colorbar(image, ax=ax, label="PSI")
    ax.set(title="Feature PSI against the champion's training window (eval.feature_drift)")
    return ("Feature drift over the last days (PSI)", _png(fig))


def summary_markdown(metrics: dict, gate_results: list[dict] | None = None, *, heading: bool = True) -> str:
    """The short markdown summary: the figures that matter and the gates' verdicts.

    :param metrics: shadow_eval's metrics dict.
    :param gate_results: ``GateResult.as_dict()`` of each gate, when known.
    :param heading: start with "Shadow evaluation: <risk>" (the HTML report has its own).
    """
    o = metrics["overall"]
    c, h = o["candidate"], o.get("champion")
    thin = [g for g in gate_results or () if g.get("not_enough_evidence")]
    lines = []
    if thin:
        # First, so that it is the approval's first line: no gate passed this candidate on these labels.
        lines += [
            f"**NOT ENOUGH EVIDENCE: {', '.join(g['gate'] for g in thin)} could not judge this candidate** "
            f"({thin[0]['not_enough_evidence']}). No automatic gate passed it on these labels: decide on "
            "the figures and intervals below, or reject and let the next runs' labels judge it.",
            "",
        ]
    if heading:
        lines += [f"## Shadow evaluation: {metrics['risk_type']}", ""]
    if metrics.get("population"):
        lines += population_markdown(metrics["population"], has_champion=bool(h))
        lines += ["### Labelled evaluation", ""]
    lines += [
        f"Candidate version **{metrics.get('candidate_version', '?')}**"
        + (
            f" vs champion version **{metrics.get('champion_version')}**"
            if h
            else " (no champion yet: evaluated alone)"
        ),
        f"on {metrics['labeled_rows']} labeled accounts ({metrics['positives']} positive) of {metrics['rows']} scored;"
        f" operating FPR {metrics['operating_fpr']}.",
        *_labelled_source(metrics),
        "",
        "| metric | candidate | champion |",
        "|---|---|---|",
    ]
    for label, key, ci in (
        ("PR-AUC", "pr_auc", "pr_auc_ci"),
        ("recall at FPR", "recall_at_fpr", "recall_at_fpr_ci"),
        ("precision at threshold", "precision_at_threshold", None),
        ("threshold", "threshold", None),
    ):
        lines.append(
            f"| {label} | {_fmt(c[key])}{_ci(c.get(ci)) if ci else ''} | "
            f"{(_fmt(h[key]) + (_ci(h.get(ci)) if ci else '')) if h else '-'} |"
        )
    if h:
        lines += [
            "",
            f"PR-AUC change {_fmt(o['pr_auc_delta'])}{_ci(o.get('pr_auc_delta_ci'))}; "
            f"decision flips {_fmt(o['flip_rate'])}{_ci(o.get('flip_rate_ci'))}; PSI {_fmt(o['psi'])}.",
        ]
    small = [f"{s['dimension']}={s['value']}{_needs(s)}" for s in metrics["slices"] if s["status"] != "ok"]
    worst = [s for s in metrics["slices"] if s.get("recall_drop") is not None]
    if worst:
        w = max(worst, key=lambda s: s["recall_drop"])
        lines.append(
            f"Largest slice recall drop: {w['dimension']}={w['value']} "
            f"({_fmt(w['recall_drop'])}{_ci(w.get('recall_drop_ci'))})."
        )
    if small:
        lines.append(f"Too small to judge: {', '.join(small)}.")
    if metrics.get("slice_dimensions_missing"):
        lines.append(f"Slices not available in the data: {', '.join(metrics['slice_dimensions_missing'])}.")
    if gate_results is not None:
        lines += ["", "### Automatic gates", ""]
        for g in gate_results:
            mark = (
                "NOT ENOUGH EVIDENCE"
                if g.get("not_enough_evidence")
                else {True: "PASS", False: "FAIL", None: "n/a"}[g["passed"]]
            )
            lines.append(f"- **{mark}** {g['message']}")
    return "\n".join(lines) + "\n"


def _labelled_source(metrics: dict) -> list[str]:
    """Which labelled rows the figures judge; beside them the test split's PR-AUC, whose negatives are a sample."""
    if not metrics.get("labelled_source"):
        return []
    lines = ["", f"Labelled rows: {metrics['labelled_source']}."]
    split = metrics.get("test_split")
    if split:
        c, h = split["overall"]["candidate"], split["overall"].get("champion")
        lines.append(
            f"On the training set's test split alone ({split['labeled_rows']} labelled, {split['positives']} positive, "
            f"its negatives sampled a few per positive): PR-AUC {_fmt(c['pr_auc'])}"
            + (f" against the champion's {_fmt(h['pr_auc'])}." if h else ".")
        )
    return lines


def _needs(row: dict) -> str:
    needs = {k: n for k, n in (row.get("needs") or {}).items() if n}
    lacks = ", ".join(f"{n} more {what.replace('_', ' ')}" for what, n in needs.items())
    return f" (needs {lacks})" if needs else ""


_BANDS = ((0.0, 0.1), (0.1, 0.5), (0.5, 0.9), (0.9, 1.0))


def population_markdown(population: dict, *, has_champion: bool) -> list[str]:
    """The lines of "What approval changes": every account of the evaluation days, both models' decisions."""
    days = population["days"]
    t = population.get("thresholds") or {}
    lines = [
        "### What approval changes",
        "",
        f"Every account with features on {', '.join(d['ds'] for d in days)} ({population['accounts']:,} account-days), "
        f"scored at the operating thresholds (candidate {_fmt(t.get('candidate'))}"
        + (f", champion {_fmt(t.get('champion'))}" if has_champion else "")
        + ").",
        "",
    ]
    if not has_champion:
        share = population["candidate_flagged"] / max(population["accounts"], 1)
        lines += [
            f"No champion: approval starts flagging **{population['candidate_flagged']:,}** accounts ({share:.2%}).",
            "",
            "| day | accounts | candidate flags |",
            "|---|---|---|",
            *(f"| {d['ds']} | {d['accounts']:,} | {d['candidate_flagged']:,} |" for d in days),
            "",
        ]
    else:
        ratio = population.get("alert_volume_ratio")
        lines += [
            "| day | accounts | champion flags | candidate flags | newly flagged | no longer flagged |",
            "|---|---|---|---|---|---|",
            *(
                f"| {d['ds']} | {d['accounts']:,} | {d['champion_flagged']:,} | {d['candidate_flagged']:,} | "
                f"{d['newly_flagged']:,} | {d['no_longer_flagged']:,} |"
                for d in days
            ),
            "",
            f"Decisions flip for **{_pct(population.get('flip_rate'))}** of accounts; the candidate flags "
            f"**{'unbounded' if ratio is None else f'{ratio:.2f}x'}** the champion's accounts; "
            f"score PSI candidate vs champion {_fmt(population.get('score_psi'))}.",
            "",
        ]
    lines += _score_bands(population, has_champion)
    lines += _psi_lines(population)
    for key, title, model in (
        ("newly_flagged_sample", "Newly flagged", "candidate"),
        ("no_longer_flagged_sample", "No longer flagged", "champion"),
    ):
        if has_champion:
            lines += _sample_table(population.get(key) or [], title, model)
    return lines


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def _score_bands(population: dict, has_champion: bool) -> list[str]:
    hist = population.get("score_histogram") or {}
    edges = np.asarray(hist.get("edges") or [], dtype=float)
    if not len(edges):
        return []
    models = [("candidate", hist.get("candidate"))] + ([("champion", hist.get("champion"))] if has_champion else [])
    header = "| score | " + " | ".join(name for name, _ in models) + " |"
    rows = [header, "|---|" + "---|" * len(models)]
    for low, high in _BANDS:
        cells = []
        for _, listed in models:
            counts = np.asarray(listed or [], dtype=float)
            inside = (edges[:-1] >= low - 1e-9) & (edges[1:] <= high + 1e-9)
            cells.append(_pct(counts[inside].sum() / counts.sum()) if counts.sum() else "n/a")
        rows.append(f"| [{low:g}, {high:g}{']' if high == 1.0 else ')'} | " + " | ".join(cells) + " |")
    return ["Score distribution (share of accounts):", "", *rows, ""]


def _psi_lines(population: dict) -> list[str]:
    psis = [r for r in population.get("feature_psi") or () if r.get("value") is not None]
    if not psis:
        return [f"Input PSI: not computed ({population.get('psi_note') or 'no training window'}).", ""]
    top = ", ".join(f"{r['name']} {r['value']:.3f}" for r in psis[:5])
    return [
        f"PSI against the candidate's training window ({population.get('psi_note')}): score "
        f"{_fmt(population.get('score_psi_vs_training'))}; inputs, largest first: {top}"
        + (f" ({len(psis)} inputs)." if len(psis) > 5 else "."),
        "",
    ]


def _sample_table(sample: list[dict], title: str, model: str) -> list[str]:
    if not sample:
        return [f"{title}: none.", ""]
    lines = [
        f"{title} (the {len(sample)} highest by the {model}'s score; why: its top attributions):",
        "",
        "| account | day | candidate | champion | why |",
        "|---|---|---|---|---|",
    ]
    for row in sample:
        why = ", ".join(f"{a['feature']} {a['attribution']:+.3f}" for a in row.get("top_attributions") or ()) or (
            row.get("attribution_note") or "-"
        )
        lines.append(
            f"| `{row['account_pk'][:16]}` | {row['ds']} | {_fmt(row['candidate_score'])} | "
            f"{_fmt(row.get('champion_score'))} | {why} |"
        )
    return [*lines, ""]


def _html(metrics: dict, figures, summary_md: str, attribution_note: str | None) -> str:
    import jinja2
    from markdown_it import MarkdownIt

    env = jinja2.Environment(autoescape=True)
    template = env.from_string(_TEMPLATE)
    return template.render(
        m=metrics,
        figures=figures,
        note=attribution_note,
        summary=jinja2.utils.markupsafe.Markup(MarkdownIt("commonmark").enable("table").render(summary_md)),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        fmt=_fmt,
        ci=_ci,
        needs=_needs,
    )


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Shadow evaluation: {{ m.risk_type }} candidate v{{ m.candidate_version }}</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
 table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
 th{background:#f3f3f3} .small{color:#888} figure{margin:1.5em 0} img{max-width:100%}
 .note{background:#fff6d5;padding:.6em;border-left:4px solid #e0b000}
</style></head><body>
<h1>Shadow evaluation: {{ m.risk_type }}</h1>
<p>Run {{ m.run_id }}; model {{ m.model_name }}; generated {{ generated }}.</p>
{% if not m.has_champion %}<p class="note">No champion yet: the candidate is evaluated alone.</p>{% endif %}
<section id="summary">{{ summary }}</section>
{% for title, png in figures %}
<figure><figcaption><h2>{{ title }}</h2></figcaption>
<img class="plot" alt="{{ title }}" src="data:image/png;base64,{{ png }}"></figure>
{% endfor %}
{% if note %}<p class="note" id="attribution-note">Feature attributions: {{ note }}</p>{% endif %}
<h2>Slices</h2>
<table id="slices"><tr><th>slice</th><th>value</th><th>labeled</th><th>positives</th><th>status</th>
<th>candidate recall</th>{% if m.has_champion %}<th>champion recall</th><th>recall drop</th><th>flips</th>{% endif %}</tr>
{% for s in m.slices %}<tr class="{{ 'small' if s.status != 'ok' else '' }}"><td>{{ s.dimension }}</td><td>{{ s.value }}</td>
<td>{{ s.labeled_rows }}</td><td>{{ s.positives }}</td><td{% if s.reason %} title="{{ s.reason }}"{% endif %}>{{ s.status }}{{ needs(s) }}</td>
<td>{% if s.candidate %}{{ fmt(s.candidate.recall) }}{{ ci(s.candidate.recall_ci) }}{% else %}-{% endif %}</td>
{% if m.has_champion %}<td>{% if s.champion %}{{ fmt(s.champion.recall) }}{{ ci(s.champion.recall_ci) }}{% else %}-{% endif %}</td>
<td>{{ fmt(s.get('recall_drop')) }}{{ ci(s.get('recall_drop_ci')) }}</td><td>{{ fmt(s.get('flip_rate')) }}</td>{% endif %}</tr>
{% endfor %}</table>
</body></html>
"""


def write_report(
    metrics: dict,
    *,
    out_dir: Path,
    labels,
    candidate_scores,
    champion_scores=None,
    attributions: dict | None = None,
    attribution_note: str | None = None,
    gate_results: list[dict] | None = None,
    drift_psi=None,
    max_psi: float | None = None,
) -> tuple[Path, Path]:
    """Write ``report.html`` and ``summary.md`` into ``out_dir``.

    :param metrics: shadow_eval's metrics dict (``evaluation.evaluate.evaluate`` plus run keys).
    :param out_dir: the run's report folder (``report_dir(risk, run_id)``).
    :param labels: the evaluation rows' labels (NaN = unlabeled), for the curves.
    :param candidate_scores: candidate scores of the same rows.
    :param champion_scores: champion scores, or None.
    :param attributions: ``attributions.integrated_gradients`` output, or None.
    :param attribution_note: shown when attributions are missing (e.g. not a Keras model).
    :param gate_results: gate verdicts to include in the summary, when already known.
    :param drift_psi: rows ``ds``, ``name``, ``value`` of the risk's ``feature_psi`` figures in
        ``eval.feature_drift`` over the last days: drawn as a heat map of days x features.
    :param max_psi: the YAML's ``drift.max_psi``: the colour scale reaches at least twice it; cells
        are marked past their own bound (``over_bound``), or past it for rows without one.
    :return: (report path, summary path).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(labels, dtype=float)
    cand = np.asarray(candidate_scores, dtype=float)
    champ = None if champion_scores is None else np.asarray(champion_scores, dtype=float)
    summary = summary_markdown(metrics, gate_results)
    html_summary = summary_markdown(metrics, gate_results, heading=False)
    figures = _figures(metrics, y, cand, champ, attributions, drift_psi, max_psi)
    report, summary_path = out_dir / "report.html", out_dir / "summary.md"
    # Write to a temporary name and rename, so a reader never sees half a report.
    for path, text in ((report, _html(metrics, figures, html_summary, attribution_note)), (summary_path, summary)):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return report, summary_path


def update_summary(metrics: dict, gate_results: list[dict]) -> Path | None:
    """Rewrite the run's ``summary.md`` with the gates' verdicts (idempotent); returns its path."""
    path = metrics.get("summary_path")
    if not path:
        return None
    from integrity_risk.storage import as_storage_path, local_path

    text = summary_markdown(metrics, gate_results)
    here = local_path(path)
    if here is None:  # an object store writes an object whole
        as_storage_path(path).write_text(text)
        return Path(path)
    tmp = here.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(here)
    return here


def approval_body(metrics: dict, report_url: str | None = None, preface: str = "") -> str:
    """Markdown for the ``body`` of the approval task: a link to the report, then the run's summary.

    :param metrics: shadow_eval's metrics XCom (carries ``summary_path`` and ``report_path``).
    :param report_url: where a browser reaches the report (e.g. a static route the platform
        exposes); default a ``file://`` link to ``report_path``.
    :param preface: markdown between the link and the summary (earlier approvals, other
        candidates waiting).
    """
    from integrity_risk.storage import as_storage_path

    summary_path = as_storage_path(metrics["summary_path"]) if metrics.get("summary_path") else None
    if summary_path is not None and summary_path.exists():
        summary = summary_path.read_text()
    else:
        summary = summary_markdown(metrics, metrics.get("gates"))
    link = report_url or (str(as_storage_path(metrics["report_path"])) if metrics.get("report_path") else None)
    # First, so that a reviewer opens the whole evidence before reading the extract of it.
    header = f"**Full report:** [{link}]({link})\n\n" if link else "_No report was written._\n\n"
    return header + preface + summary
