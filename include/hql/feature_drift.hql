-- Behaviour drift of each day of a risk, written by FeatureDriftOperator: one row per
-- figure, one partition per risk type and day, replaced whole on a re-run (LOAD DATA ...
-- OVERWRITE). Drift informs and triggers training; it never blocks the run.
--   kind       feature_psi: PSI of a feature (name <view>__<feature>) against the reference;
--              volume: rows:<table> or sum:<table>.<column> against the trailing days' median;
--              score: the champion's score_psi, score_p50/p90/p99 and flag_rate on the day.
--   value / reference_value / ratio   the day's figure, the reference's, their ratio.
--   bound_low / bound_high / over_bound   the YAML's bounds (drift:) and 1 when passed.
--   reference  what the figures compare with: the champion's training set or trailing days.
-- Keep `;` and `--` out of string literals: statements are split on them.

CREATE DATABASE IF NOT EXISTS eval;

CREATE TABLE IF NOT EXISTS eval.feature_drift (
  kind                  STRING,
  name                  STRING,
  value                 DOUBLE,
  reference_value       DOUBLE,
  ratio                 DOUBLE,
  bound_low             DOUBLE,
  bound_high            DOUBLE,
  over_bound            INT,
  null_share            DOUBLE,
  reference_null_share  DOUBLE,
  rows                  BIGINT,
  reference_rows        BIGINT,
  reference             STRING,
  champion_version      INT,
  run_id                STRING
)
PARTITIONED BY (risk_type STRING, ds STRING)
STORED AS PARQUET
