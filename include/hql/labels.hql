-- features.labels, partition ds: as of the end of ds, the newest label per account
-- and risk type (an appeal, being newer, reverses an earlier decision), matured or
-- not. Maturity is the reader's rule, not this table's: each risk's training set keeps
-- the labels at least its own `maturity_days` old and leaves out an account whose
-- newest label is younger, while every account here, maturing or not, is known to
-- enforcement and is never sampled as a negative. One partition serves every risk,
-- whichever risk's run wrote it; it keeps the labels of every risk type with a YAML in
-- include/risks (`risk_types()`). Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.labels PARTITION (ds)
SELECT
  {{ pseudonymize('account_id') }} AS account_pk,
  risk_type,
  label,
  labeled_at,
  CAST(to_date(labeled_at) AS TIMESTAMP) AS observed_at,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM (
  SELECT account_id, risk_type, label, labeled_at,
         -- same instant: an appeal wins, then a clearance (label 0)
         row_number() OVER (PARTITION BY account_id, risk_type
                            ORDER BY labeled_at DESC, CASE WHEN source = 'appeal' THEN 0 ELSE 1 END, label) AS newest
  FROM raw.enforcement_labels
  WHERE ds <= '{{ ds }}'
    AND account_id IS NOT NULL AND account_id <> ''
    AND risk_type IN ({% for risk in risk_types() %}'{{ risk }}'{{ ', ' if not loop.last }}{% endfor %})
    AND label IN (0, 1)
    AND labeled_at IS NOT NULL
    AND labeled_at < TIMESTAMP '{{ window_end }}'
) ranked
WHERE newest = 1
