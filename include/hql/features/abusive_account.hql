-- features.abusive_account_daily: signals of fake or bulk-created accounts, per
-- account with an event in the 7 days ds-6 .. ds. Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.abusive_account_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
prof AS (
  SELECT account_id, max(signup_device_id) AS signup_device_id, max(signup_ip) AS signup_ip
  FROM raw.account_profiles
  WHERE ds = '{{ ds }}' AND account_id IS NOT NULL AND account_id <> ''
  GROUP BY account_id
),
signup_device AS (
  SELECT signup_device_id, count(*) AS accounts FROM prof WHERE signup_device_id IS NOT NULL GROUP BY signup_device_id
),
signup_ip AS (
  SELECT signup_ip, count(*) AS accounts FROM prof WHERE signup_ip IS NOT NULL GROUP BY signup_ip
),
acct AS (
  SELECT account_id,
         sum(CASE WHEN event_type = 'login' THEN fails ELSE 0 END) AS login_fails_7d,
         sum(CASE WHEN event_type = 'login' THEN with_status ELSE 0 END) AS logins_with_status_7d,
         sum(CASE WHEN event_type = 'follow' THEN n ELSE 0 END) AS follows_7d,
         count(DISTINCT event_date) AS active_days_7d
  FROM wc
  GROUP BY account_id
),
acct_1d AS (
  SELECT account_id,
         sum(CASE WHEN event_type = 'login' THEN 1 ELSE 0 END) AS logins_1d,
         sum(CASE WHEN event_type = 'follow' THEN 1 ELSE 0 END) AS follows_1d,
         sum(CASE WHEN event_type = 'post' THEN 1 ELSE 0 END) AS posts_1d,
         sum(CASE WHEN event_type = 'message' THEN 1 ELSE 0 END) AS messages_1d
  FROM day
  GROUP BY account_id
),
used_7d AS (
  -- one distinct count per kind, then a row per account (several count(DISTINCT) in one
  -- aggregate would make Spark expand the input once per column)
  SELECT account_id,
         max(CASE WHEN kind = 'follow_target' THEN used END) AS distinct_follow_targets_7d,
         max(CASE WHEN kind = 'ip' THEN used END) AS distinct_ips_7d,
         max(CASE WHEN kind = 'device' THEN used END) AS distinct_devices_7d
  FROM (SELECT account_id, kind, count(DISTINCT value) AS used FROM wv
        WHERE kind IN ('follow_target', 'ip', 'device') GROUP BY account_id, kind) per_kind
  GROUP BY account_id
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  coalesce(sd.accounts, 0) AS signup_device_accounts,
  coalesce(si.accounts, 0) AS signup_ip_accounts,
  coalesce(d.logins_1d, 0) AS logins_1d,
  CASE WHEN a.logins_with_status_7d > 0 THEN a.login_fails_7d / a.logins_with_status_7d ELSE 0.0 END AS login_fail_ratio_7d,
  coalesce(d.follows_1d, 0) AS follows_1d,
  a.follows_7d,
  CAST(coalesce(u.distinct_follow_targets_7d, 0) AS BIGINT) AS distinct_follow_targets_7d,
  coalesce(d.posts_1d, 0) AS posts_1d,
  coalesce(d.messages_1d, 0) AS messages_1d,
  CAST(coalesce(u.distinct_ips_7d, 0) AS BIGINT) AS distinct_ips_7d,
  CAST(coalesce(u.distinct_devices_7d, 0) AS BIGINT) AS distinct_devices_7d,
  CAST(a.active_days_7d AS BIGINT) AS active_days_7d,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM acct a
LEFT JOIN acct_1d d ON a.account_id = d.account_id
LEFT JOIN used_7d u ON a.account_id = u.account_id
LEFT JOIN prof p ON a.account_id = p.account_id
LEFT JOIN signup_device sd ON p.signup_device_id = sd.signup_device_id
LEFT JOIN signup_ip si ON p.signup_ip = si.signup_ip
