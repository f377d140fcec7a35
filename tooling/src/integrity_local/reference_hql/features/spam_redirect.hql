-- features.spam_redirect_daily: links pushed in posts, comments and messages, per
-- account with an event in the 7 days ds-6 .. ds. Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.spam_redirect_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
marked AS (
  SELECT account_id, event_type, target_account_id, has_url, domain, event_time,
         CASE WHEN event_time >= TIMESTAMP '{{ window_start }}' THEN 1 ELSE 0 END AS in_1d,
         CASE WHEN event_type IN ('post', 'comment', 'message') THEN 1 ELSE 0 END AS is_content
  FROM ev
),
acct AS (
  SELECT account_id,
         sum(in_1d) AS events_1d,
         sum(CASE WHEN in_1d = 1 THEN has_url ELSE 0 END) AS url_events_1d,
         sum(has_url) AS url_events_7d,
         size(collect_set(CASE WHEN in_1d = 1 AND has_url = 1 THEN domain END)) AS distinct_domains_1d,
         size(collect_set(CASE WHEN has_url = 1 THEN domain END)) AS distinct_domains_7d,
         sum(CASE WHEN event_type = 'click_link' THEN in_1d ELSE 0 END) AS click_links_1d,
         sum(CASE WHEN is_content = 1 THEN in_1d ELSE 0 END) AS content_events_1d,
         sum(CASE WHEN is_content = 1 AND in_1d = 1 THEN has_url ELSE 0 END) AS content_url_events_1d,
         size(collect_set(CASE WHEN event_type = 'message' AND in_1d = 1 THEN target_account_id END))
           AS distinct_message_targets_1d
  FROM marked GROUP BY account_id
),
top_domain AS (
  -- events whose url has no parsable host count in url_events but not for any domain
  SELECT account_id, max(n) AS top_domain_events_7d
  FROM (SELECT account_id, domain, count(*) AS n FROM marked WHERE has_url = 1 AND domain IS NOT NULL
        GROUP BY account_id, domain) per_domain
  GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_url_events_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM marked WHERE in_1d = 1 AND has_url = 1
        GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  a.url_events_1d,
  a.url_events_7d,
  CASE WHEN a.events_1d > 0 THEN a.url_events_1d / a.events_1d ELSE 0.0 END AS url_event_ratio_1d,
  CAST(a.distinct_domains_1d AS BIGINT) AS distinct_domains_1d,
  CAST(a.distinct_domains_7d AS BIGINT) AS distinct_domains_7d,
  CASE WHEN a.url_events_7d > 0 THEN coalesce(t.top_domain_events_7d, 0) / a.url_events_7d ELSE 0.0 END
    AS top_domain_share_7d,
  a.click_links_1d,
  a.content_events_1d,
  CASE WHEN a.content_events_1d > 0 THEN a.content_url_events_1d / a.content_events_1d ELSE 0.0 END
    AS content_url_ratio_1d,
  CAST(a.distinct_message_targets_1d AS BIGINT) AS distinct_message_targets_1d,
  coalesce(b.max_url_events_1h, 0) AS max_url_events_1h,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM acct a
LEFT JOIN top_domain t ON a.account_id = t.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
