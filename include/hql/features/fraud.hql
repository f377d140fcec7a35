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
pay_1d AS (
  SELECT account_id,
         count(*) AS payment_attempts_1d,
         sum(is_fail) AS fails_1d,
         sum(has_status) AS with_status_1d,
         CAST(sum(CAST(amount_usd AS DECIMAL(20, 6))) AS DOUBLE) AS payment_amount_sum_1d,
         max(amount_usd) AS payment_amount_max_1d
  FROM day WHERE event_type = 'payment_attempt' GROUP BY account_id
),
pay_7d AS (
  -- an event's country against the profile of ds: the partials keep the event country
  SELECT w.account_id,
         sum(w.n) AS payment_attempts_7d,
         sum(w.fails) AS fails_7d,
         sum(w.with_status) AS with_status_7d,
         CAST(sum(w.amount_usd) AS DOUBLE) AS payment_amount_sum_7d,  -- exact, then rounded once
         sum(CASE WHEN w.country <> p.country THEN w.n ELSE 0 END) AS mismatches_7d,
         sum(CASE WHEN w.country IS NOT NULL AND p.country IS NOT NULL THEN w.n ELSE 0 END) AS comparable_7d
  FROM wc w
  LEFT JOIN prof p ON w.account_id = p.account_id
  WHERE w.event_type = 'payment_attempt'
  GROUP BY w.account_id
),
devices_7d AS (
  SELECT account_id, count(DISTINCT value) AS payment_devices_7d FROM wv WHERE kind = 'payment_device' GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_payments_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM day WHERE event_type = 'payment_attempt'
        GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
),
accounts AS (
  SELECT DISTINCT account_id FROM wc
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  coalesce(d.payment_attempts_1d, 0) AS payment_attempts_1d,
  coalesce(g.payment_attempts_7d, 0) AS payment_attempts_7d,
  CASE WHEN d.with_status_1d > 0 THEN d.fails_1d / d.with_status_1d ELSE 0.0 END AS payment_fail_ratio_1d,
  CASE WHEN g.with_status_7d > 0 THEN g.fails_7d / g.with_status_7d ELSE 0.0 END AS payment_fail_ratio_7d,
  coalesce(d.payment_amount_sum_1d, 0.0) AS payment_amount_sum_1d,
  coalesce(d.payment_amount_max_1d, 0.0) AS payment_amount_max_1d,
  coalesce(g.payment_amount_sum_7d, 0.0) AS payment_amount_sum_7d,
  coalesce(b.max_payments_1h, 0) AS max_payments_1h,
  CAST(coalesce(v.payment_devices_7d, 0) AS BIGINT) AS payment_devices_7d,
  CASE WHEN g.comparable_7d > 0 THEN g.mismatches_7d / g.comparable_7d ELSE 0.0 END
    AS payment_country_mismatch_ratio_7d,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM accounts a
LEFT JOIN pay_1d d ON a.account_id = d.account_id
LEFT JOIN pay_7d g ON a.account_id = g.account_id
LEFT JOIN devices_7d v ON a.account_id = v.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
