"""The HTML report renders in a real browser (headless Chromium) with its plots."""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from integrity_risk.evaluation.gates import evaluate_gates
from integrity_risk.evaluation.report import approval_body, report_dir, update_summary, write_report
from integrity_risk.evaluation.shadow import evaluate
from integrity_risk.storage import local_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _metrics(with_champion=True, n=3000):
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.15).astype(float)
    y[rng.random(n) < 0.05] = np.nan
    frame = pd.DataFrame(
        {
            "label_fraud": y,
            "account_daily__country": rng.choice(["DE", "US", "BR", "IS"], size=n, p=[0.45, 0.45, 0.09, 0.01]),
            "account_daily__account_age_days": rng.integers(0, 1500, size=n),
            "account_daily__is_business": rng.integers(0, 2, size=n),
        }
    )
    signal = np.nan_to_num(y)
    champ = 1 / (1 + np.exp(-(rng.normal(size=n) + 2.5 * signal - 2)))
    cand = 1 / (1 + np.exp(-(rng.normal(size=n) + 2.8 * signal - 2)))
    metrics = evaluate(
        frame, "fraud", cand, champ if with_champion else None, operating_fpr=0.02, n_bootstrap=50, min_slice_size=100
    )
    metrics.update(
        candidate_version=2,
        champion_version=1 if with_champion else None,
        model_name="integrity_fraud",
        run_id="manual__2026-03-20T00:00:00+00:00",
    )
    return metrics, y, cand, (champ if with_champion else None)


def _chromium(*args, tmp_path):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (Debian package chromium; scripts/test.sh installs it)")
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_the_report_renders_in_headless_chromium_with_its_plots(tmp_path):
    metrics, y, cand, champ = _metrics()
    out = local_path(report_dir("fraud", metrics["run_id"]))  # <storage root>/reports/fraud/<run>, a folder here
    attributions = {
        "features": ["fraud_daily__failed_payments_1h", "account_daily__account_age_days"],
        "mean_abs": [0.3, 0.1],
        "completeness_gap": 0.0,
        "rows": 100,
    }
    report, summary = write_report(
        metrics, out_dir=out, labels=y, candidate_scores=cand, champion_scores=champ, attributions=attributions
    )
    assert ":" not in out.name and report.name == "report.html"

    dom = _chromium("--dump-dom", report.as_uri(), tmp_path=tmp_path).stdout
    images = re.findall(r'<img class="plot" alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', dom)
    assert [alt for alt, _ in images] == [
        "Precision-recall curves",
        "Score histograms",
        "Recall per slice (90% bootstrap intervals)",
        "Feature attributions",
    ]
    assert all(len(data) > 5000 for _, data in images)  # real PNGs, not placeholders
    assert "too small" in dom and "<td>IS</td>" in dom  # the tiny country is listed and marked

    screenshot = out / "screenshot.png"
    screenshot.unlink(missing_ok=True)
    _chromium(f"--screenshot={screenshot}", "--window-size=1200,3000", report.as_uri(), tmp_path=tmp_path)
    assert screenshot.exists() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000  # a page with plots, not a blank one
    print(f"\nreport screenshot: {screenshot}")


def test_a_report_without_champion_or_keras_model_says_so(tmp_path):
    metrics, y, cand, _ = _metrics(with_champion=False)
    report, summary = write_report(
        metrics,
        out_dir=tmp_path,
        labels=y,
        candidate_scores=cand,
        attribution_note="the model could not be loaded as Keras (pyfunc)",
    )
    html = report.read_text()
    assert "No champion yet" in html and "could not be loaded as Keras" in html
    assert html.count('<img class="plot"') == 3
    assert "no champion yet" in summary.read_text()
    # One heading on the page; the summary, which the approval shows alone, keeps its own.
    assert html.split("<body>", 1)[1].count("Shadow evaluation") == 1
    assert summary.read_text().startswith("## Shadow evaluation: fraud\n")


def test_the_approval_body_carries_the_summary_gates_and_report_link(tmp_path):
    metrics, y, cand, champ = _metrics()
    report, summary = write_report(metrics, out_dir=tmp_path, labels=y, candidate_scores=cand, champion_scores=champ)
    metrics.update(report_path=str(report), summary_path=str(summary))
    gates = [g.as_dict() for g in evaluate_gates(metrics, {"max_decision_flip_rate": 0.0001})]
    update_summary(metrics, gates)
    body = approval_body(metrics)
    assert "Candidate version **2** vs champion version **1**" in body
    assert "**FAIL** max_decision_flip_rate FAILED" in body
    # The body opens with the report's link, so the reviewer reads the whole evidence first.
    assert body.splitlines()[0] == f"**Full report:** [{report.as_uri()}]({report.as_uri()})"
    linked = approval_body(metrics, report_url="http://airflow/reports/x", preface="approved by ann\n\n")
    assert linked.startswith(
        "**Full report:** [http://airflow/reports/x](http://airflow/reports/x)\n\napproved by ann\n"
    )


def test_the_approval_body_says_first_after_the_link_which_gates_lacked_the_labels_to_judge(tmp_path):
    metrics, y, cand, _ = _metrics(with_champion=False)
    report, summary = write_report(metrics, out_dir=tmp_path, labels=y, candidate_scores=cand)
    metrics.update(report_path=str(report), summary_path=str(summary))
    need = metrics["positives"] + 1
    gates = [g.as_dict() for g in evaluate_gates(metrics, {"min_recall_at_fpr": 0.1, "min_labelled_positives": need})]
    update_summary(metrics, gates)
    lines = approval_body(metrics).splitlines()[2:]  # after the report's link and a blank line
    assert lines[0] == (
        "**NOT ENOUGH EVIDENCE: min_recall_at_fpr could not judge this candidate** "
        f"({metrics['positives']} labelled positives, fewer than min_labelled_positives {need}). "
        "No automatic gate passed it on these labels: decide on the figures and intervals below, "
        "or reject and let the next runs' labels judge it."
    )
    assert lines[2] == "## Shadow evaluation: fraud"
    assert any(line.startswith("- **NOT ENOUGH EVIDENCE** min_recall_at_fpr NOT ENOUGH EVIDENCE (") for line in lines)


def test_the_summary_names_the_labelled_rows_and_what_each_small_slice_lacks(tmp_path):
    metrics, y, cand, champ = _metrics()
    split = _metrics(n=200)[0]
    metrics["test_split"] = {k: split[k] for k in ("rows", "labeled_rows", "positives", "overall")}
    metrics["labelled_source"] = "every fraud label matured (3 days) by the end of 2026-03-20"
    report, summary = write_report(metrics, out_dir=tmp_path, labels=y, candidate_scores=cand, champion_scores=champ)
    text = summary.read_text()
    assert "Labelled rows: every fraud label matured (3 days) by the end of 2026-03-20." in text
    assert (
        f"On the training set's test split alone ({split['labeled_rows']} labelled, {split['positives']} positive"
    ) in text
    iceland = next(s for s in metrics["slices"] if s["dimension"] == "country" and s["value"] == "IS")
    lacks = ", ".join(f"{n} more {k.replace('_', ' ')}" for k, n in iceland["needs"].items() if n)
    assert lacks and f"country=IS (needs {lacks})" in text
    assert f'title="{iceland["reason"]}"' in report.read_text()
