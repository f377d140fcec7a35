-- features.fraud_daily: payment attempts, failures and amounts, per account with an
-- event in the 7 days ds-6 .. ds. Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.fraud_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
prof AS (
  SELECT account_id, max(country) AS country
  FROM raw.account_profiles
  WHERE ds = '{{ ds }}' AND account_id IS NOT NULL AND account_id <> ''
  GROUP BY account_id
),
pay AS (
  SELECT e.account_id, e.device_id, e.is_fail, e.has_status, e.amount_usd, e.event_time,
         CASE WHEN e.event_time >= TIMESTAMP '{{ window_start }}' THEN 1 ELSE 0 END AS in_1d,
         CASE WHEN e.country IS NOT NULL AND p.country IS NOT NULL THEN 1 ELSE 0 END AS comparable,
         CASE WHEN e.country <> p.country THEN 1 ELSE 0 END AS mismatch
  FROM ev e
  LEFT JOIN prof p ON e.account_id = p.account_id
  WHERE e.event_type = 'payment_attempt'
),
pay_agg AS (
  SELECT account_id,
         sum(in_1d) AS payment_attempts_1d,
         count(*) AS payment_attempts_7d,
         sum(CASE WHEN in_1d = 1 THEN is_fail ELSE 0 END) AS fails_1d,
         sum(CASE WHEN in_1d = 1 THEN has_status ELSE 0 END) AS with_status_1d,
         sum(is_fail) AS fails_7d,
         sum(has_status) AS with_status_7d,
         sum(CASE WHEN in_1d = 1 THEN amount_usd END) AS payment_amount_sum_1d,
         max(CASE WHEN in_1d = 1 THEN amount_usd END) AS payment_amount_max_1d,
         sum(amount_usd) AS payment_amount_sum_7d,
         size(collect_set(device_id)) AS payment_devices_7d,
         sum(mismatch) AS mismatches_7d,
         sum(comparable) AS comparable_7d
  FROM pay GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_payments_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM pay WHERE in_1d = 1
        GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
),
accounts AS (
  SELECT DISTINCT account_id FROM ev
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  coalesce(g.payment_attempts_1d, 0) AS payment_attempts_1d,
  coalesce(g.payment_attempts_7d, 0) AS payment_attempts_7d,
  CASE WHEN g.with_status_1d > 0 THEN g.fails_1d / g.with_status_1d ELSE 0.0 END AS payment_fail_ratio_1d,
  CASE WHEN g.with_status_7d > 0 THEN g.fails_7d / g.with_status_7d ELSE 0.0 END AS payment_fail_ratio_7d,
  coalesce(g.payment_amount_sum_1d, 0.0) AS payment_amount_sum_1d,
  coalesce(g.payment_amount_max_1d, 0.0) AS payment_amount_max_1d,
  coalesce(g.payment_amount_sum_7d, 0.0) AS payment_amount_sum_7d,
  coalesce(b.max_payments_1h, 0) AS max_payments_1h,
  CAST(coalesce(g.payment_devices_7d, 0) AS BIGINT) AS payment_devices_7d,
  CASE WHEN g.comparable_7d > 0 THEN g.mismatches_7d / g.comparable_7d ELSE 0.0 END
    AS payment_country_mismatch_ratio_7d,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM accounts a
LEFT JOIN pay_agg g ON a.account_id = g.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
