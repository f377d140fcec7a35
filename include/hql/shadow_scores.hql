-- Scores of the champion and the candidate side by side, per pseudonymized account,
-- written by ShadowEvalOperator: one partition per risk type and run day, replaced
-- whole on a re-run (LOAD DATA ... OVERWRITE). champion_* are NULL when there was no
-- champion yet. *_flagged: 1 when the score is at or above that model's threshold at
-- the operating FPR. Keep `;` and `--` out of string literals: statements are split on them.

CREATE DATABASE IF NOT EXISTS eval;

CREATE TABLE IF NOT EXISTS eval.shadow_scores (
  account_pk          STRING,
  event_timestamp     TIMESTAMP,
  label               DOUBLE,
  candidate_version   INT,
  candidate_score     DOUBLE,
  candidate_flagged   INT,
  champion_version    INT,
  champion_score      DOUBLE,
  champion_flagged    INT,
  run_id              STRING
)
PARTITIONED BY (risk_type STRING, ds STRING)
STORED AS PARQUET
