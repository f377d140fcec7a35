-- features.account_daily: shared traits of every account in the profile snapshot of
-- ds or active on ds. Columns and their meaning: docs/contracts.md.
-- Distinct counts use size(collect_set(...)): exact, and unlike several
-- count(DISTINCT ...) in one aggregate, it does not make Spark expand the input
-- once per distinct column. The devices and IPs, and the sharing counts, come from the
-- day's distinct (account, device) and (account, IP) pairs, which the cleaning stage
-- wrote (clean.account_day_values), instead of four more passes over the events.
INSERT OVERWRITE TABLE features.account_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
prof AS (
  -- a duplicated snapshot row collapses to one (max is deterministic)
  SELECT account_id, max(created_at) AS created_at, max(country) AS country,
         max(CAST(phone_verified AS INT)) AS phone_verified, max(CAST(is_business AS INT)) AS is_business
  FROM raw.account_profiles
  WHERE ds = '{{ ds }}' AND account_id IS NOT NULL AND account_id <> ''
  GROUP BY account_id
),
acct_1d AS (
  SELECT account_id,
         count(*) AS events_1d,
         size(collect_set(hour(event_time))) AS active_hours_1d,
         size(collect_set(event_type)) AS distinct_event_types_1d,
         sum(is_fail) AS fails, sum(has_status) AS with_status,
         sum(automation_ua) AS automation_events, count(user_agent) AS with_user_agent
  FROM day
  GROUP BY account_id
),
acct_7d AS (
  SELECT account_id, sum(n) AS events_7d FROM wc GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_events_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM day GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
),
day_pairs AS (  -- the devices and IPs each account used on ds (events timed on ds, whichever day loaded them)
  SELECT DISTINCT account_id, kind, value
  FROM clean.account_day_values
  WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'
    AND event_date = DATE '{{ ds }}' AND kind IN ('device', 'ip')
),
node_accounts AS (  -- how many accounts used each device and each IP on ds
  SELECT kind, value, count(*) AS accounts FROM day_pairs GROUP BY kind, value
),
sharing AS (
  SELECT p.account_id,
         count(CASE WHEN p.kind = 'device' THEN 1 END) AS distinct_devices_1d,
         count(CASE WHEN p.kind = 'ip' THEN 1 END) AS distinct_ips_1d,
         max(CASE WHEN p.kind = 'device' THEN n.accounts END) AS device_shared_accounts_1d,
         max(CASE WHEN p.kind = 'ip' THEN n.accounts END) AS ip_shared_accounts_1d
  FROM day_pairs p
  JOIN node_accounts n ON n.kind = p.kind AND n.value = p.value
  GROUP BY p.account_id
),
mismatch AS (
  -- only events with a country, of accounts whose profile has one, are compared
  SELECT c.account_id, sum(CASE WHEN c.country <> p.country THEN c.n ELSE 0 END) AS mismatches,
         sum(c.n) AS comparable
  FROM (SELECT account_id, country, count(*) AS n FROM day WHERE country IS NOT NULL
        GROUP BY account_id, country) c
  JOIN prof p ON c.account_id = p.account_id
  WHERE p.country IS NOT NULL
  GROUP BY c.account_id
),
accounts AS (
  SELECT account_id FROM prof UNION SELECT account_id FROM acct_1d
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  CASE WHEN p.account_id IS NULL THEN 0 ELSE 1 END AS has_profile,
  -- a created_at after feature_ts (clock skew) counts as age 0, not negative
  CASE WHEN p.created_at IS NOT NULL THEN
    greatest(CAST(unix_timestamp(TIMESTAMP '{{ feature_ts }}') - unix_timestamp(p.created_at) AS DOUBLE) / 86400.0, 0.0)
  END AS account_age_days,
  p.phone_verified,
  p.is_business,
  p.country,
  coalesce(d.events_1d, 0) AS events_1d,
  coalesce(w.events_7d, 0) AS events_7d,
  coalesce(b.max_events_1h, 0) AS max_events_1h,
  CAST(coalesce(d.active_hours_1d, 0) AS BIGINT) AS active_hours_1d,
  CAST(coalesce(d.distinct_event_types_1d, 0) AS BIGINT) AS distinct_event_types_1d,
  coalesce(sh.distinct_devices_1d, 0) AS distinct_devices_1d,
  coalesce(sh.distinct_ips_1d, 0) AS distinct_ips_1d,
  coalesce(sh.device_shared_accounts_1d, 0) AS device_shared_accounts_1d,
  coalesce(sh.ip_shared_accounts_1d, 0) AS ip_shared_accounts_1d,
  CASE WHEN d.with_status > 0 THEN d.fails / d.with_status ELSE 0.0 END AS fail_ratio_1d,
  CASE WHEN m.comparable > 0 THEN m.mismatches / m.comparable ELSE 0.0 END AS country_mismatch_ratio_1d,
  CASE WHEN d.with_user_agent > 0 THEN d.automation_events / d.with_user_agent ELSE 0.0 END AS automation_ua_ratio_1d,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM accounts a
LEFT JOIN prof p ON a.account_id = p.account_id
LEFT JOIN acct_1d d ON a.account_id = d.account_id
LEFT JOIN acct_7d w ON a.account_id = w.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
LEFT JOIN sharing sh ON a.account_id = sh.account_id
LEFT JOIN mismatch m ON a.account_id = m.account_id
