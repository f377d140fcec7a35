-- features.scraping_daily: bulk viewing and API harvesting, per account with an
-- event in the 7 days ds-6 .. ds. Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.scraping_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
req AS (
  SELECT account_id, event_type, target_account_id, target_item_id, user_agent, automation_ua,
         is_fail, has_status, event_time,
         CASE WHEN event_time >= TIMESTAMP '{{ window_start }}' THEN 1 ELSE 0 END AS in_1d
  FROM ev
  WHERE event_type IN ('view', 'api_request')
),
req_1d AS (
  SELECT account_id,
         count(*) AS requests_1d,
         sum(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views_1d,
         sum(CASE WHEN event_type = 'api_request' THEN 1 ELSE 0 END) AS api_requests_1d,
         size(collect_set(hour(event_time))) AS request_active_hours_1d,
         size(collect_set(CASE WHEN event_type = 'view' THEN target_account_id END)) AS distinct_viewed_accounts_1d,
         size(collect_set(CASE WHEN event_type = 'view' THEN target_item_id END)) AS distinct_viewed_items_1d,
         sum(CASE WHEN event_type = 'api_request' THEN is_fail ELSE 0 END) AS api_fails_1d,
         sum(CASE WHEN event_type = 'api_request' THEN has_status ELSE 0 END) AS api_with_status_1d,
         size(collect_set(user_agent)) AS distinct_user_agents_1d,
         sum(automation_ua) AS automation_requests_1d,
         count(user_agent) AS requests_with_user_agent_1d
  FROM req WHERE in_1d = 1 GROUP BY account_id
),
req_7d AS (
  SELECT account_id, count(*) AS requests_7d FROM req GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_requests_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM req WHERE in_1d = 1
        GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
),
accounts AS (
  SELECT DISTINCT account_id FROM ev
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  coalesce(d.requests_1d, 0) AS requests_1d,
  coalesce(w.requests_7d, 0) AS requests_7d,
  coalesce(d.views_1d, 0) AS views_1d,
  coalesce(d.api_requests_1d, 0) AS api_requests_1d,
  coalesce(b.max_requests_1h, 0) AS max_requests_1h,
  CAST(coalesce(d.request_active_hours_1d, 0) AS BIGINT) AS request_active_hours_1d,
  CAST(coalesce(d.distinct_viewed_accounts_1d, 0) AS BIGINT) AS distinct_viewed_accounts_1d,
  CAST(coalesce(d.distinct_viewed_items_1d, 0) AS BIGINT) AS distinct_viewed_items_1d,
  CASE WHEN d.api_with_status_1d > 0 THEN d.api_fails_1d / d.api_with_status_1d ELSE 0.0 END AS api_fail_ratio_1d,
  CAST(coalesce(d.distinct_user_agents_1d, 0) AS BIGINT) AS distinct_user_agents_1d,
  CASE WHEN d.requests_with_user_agent_1d > 0 THEN d.automation_requests_1d / d.requests_with_user_agent_1d
       ELSE 0.0 END AS request_automation_ua_ratio_1d,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM accounts a
LEFT JOIN req_1d d ON a.account_id = d.account_id
LEFT JOIN req_7d w ON a.account_id = w.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
