-- features.labels, partition ds: as of the end of ds, the newest label per account
-- and risk type (an appeal, being newer, reverses an earlier decision), kept only
-- once it has matured: labeled at least `maturity_days` (sql_vars, default 7)
-- before ds + 1 day, so late reversals have had time to arrive. An account whose
-- newest label is still maturing is left out, even if an older one has matured.
-- Columns: docs/contracts.md.
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
    AND risk_type IN ('abusive_account', 'fake_engagement', 'spam_redirect', 'scraping', 'fraud')
    AND label IN (0, 1)
    AND labeled_at IS NOT NULL
    AND labeled_at < TIMESTAMP '{{ window_end }}'
) ranked
WHERE newest = 1
  AND labeled_at < TIMESTAMP '{{ window_end }}' - INTERVAL {{ maturity_days | default(7) | int }} DAYS
