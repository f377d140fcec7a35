"""Which rows shadow_eval judges: only those after the candidate's training cutoff."""

import json

import pandas as pd
import pytest

from integrity_risk.operators.shadow_eval import ShadowEvalError, after_cutoff, evaluation_cutoff, load_evaluation_frame


def _frame():
    return pd.DataFrame(
        {
            "account_pk": ["a", "b", "c"],
            "event_timestamp": pd.to_datetime(["2026-03-17 10:00", "2026-03-18 00:00", "2026-03-19 08:00"], utc=True),
        }
    )


def test_rows_at_or_before_the_cutoff_are_dropped():
    assert list(after_cutoff(_frame(), "2026-03-18T00:00:00+00:00")["account_pk"]) == ["c"]
    assert list(after_cutoff(_frame(), "2026-03-18T00:00:00")["account_pk"]) == ["c"]  # naive means UTC
    assert len(after_cutoff(_frame(), None)) == 3


def test_data_the_candidate_has_all_seen_is_refused():
    with pytest.raises(ShadowEvalError, match="no evaluation rows after the candidate's training cutoff"):
        after_cutoff(_frame(), "2026-03-20T00:00:00+00:00")


def test_the_candidates_own_test_split_is_cut_at_the_end_of_validation(tmp_path):
    folder = tmp_path / "training_sets" / "fraud" / "2026-03-20"
    folder.mkdir(parents=True)
    _frame().to_parquet(folder / "test.parquet")
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "time_range": {
                    "end": "2026-03-19T08:00:00+00:00",
                    "validation": ["2026-03-16T00:00:00+00:00", "2026-03-17T10:00:00+00:00"],
                }
            }
        )
    )
    # the trainer's tag is the end of the whole set, test days included
    tags = {"training_cutoff": "2026-03-19T08:00:00+00:00", "training_set": str(folder)}
    assert evaluation_cutoff(str(folder / "test.parquet"), tags) == "2026-03-17T10:00:00+00:00"
    assert evaluation_cutoff(str(tmp_path / "other.parquet"), tags) == "2026-03-19T08:00:00+00:00"
    frame = load_evaluation_frame(folder / "test.parquet")
    assert len(after_cutoff(frame, evaluation_cutoff(str(folder / "test.parquet"), tags))) == 2


def test_missing_evaluation_data_is_named(tmp_path):
    with pytest.raises(ShadowEvalError, match="none.parquet does not exist"):
        load_evaluation_frame(tmp_path / "none.parquet")
    with pytest.raises(ShadowEvalError, match="no evaluation data given"):
        load_evaluation_frame(None)
