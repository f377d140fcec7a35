-- features.spam_redirect_daily: links pushed in posts, comments and messages, per
-- account with an event in the 7 days ds-6 .. ds. Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.spam_redirect_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
acct AS (
  SELECT account_id, sum(url_events) AS url_events_7d FROM wc GROUP BY account_id
),
acct_1d AS (
  SELECT account_id,
         count(*) AS events_1d,
         sum(has_url) AS url_events_1d,
         size(collect_set(CASE WHEN has_url = 1 THEN domain END)) AS distinct_domains_1d,
         sum(CASE WHEN event_type = 'click_link' THEN 1 ELSE 0 END) AS click_links_1d,
         sum(CASE WHEN event_type IN ('post', 'comment', 'message') THEN 1 ELSE 0 END) AS content_events_1d,
         sum(CASE WHEN event_type IN ('post', 'comment', 'message') THEN has_url ELSE 0 END) AS content_url_events_1d,
         size(collect_set(CASE WHEN event_type = 'message' THEN target_account_id END)) AS distinct_message_targets_1d
  FROM day GROUP BY account_id
),
domains_7d AS (
  -- events whose url has no parsable host count in url_events but not for any domain
  SELECT account_id, count(*) AS distinct_domains_7d, max(n) AS top_domain_events_7d
  FROM (SELECT account_id, value, sum(n) AS n FROM wv WHERE kind = 'domain' GROUP BY account_id, value) per_domain
  GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_url_events_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM day WHERE has_url = 1
        GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  coalesce(d.url_events_1d, 0) AS url_events_1d,
  a.url_events_7d,
  CASE WHEN d.events_1d > 0 THEN d.url_events_1d / d.events_1d ELSE 0.0 END AS url_event_ratio_1d,
  CAST(coalesce(d.distinct_domains_1d, 0) AS BIGINT) AS distinct_domains_1d,
  CAST(coalesce(t.distinct_domains_7d, 0) AS BIGINT) AS distinct_domains_7d,
  CASE WHEN a.url_events_7d > 0 THEN coalesce(t.top_domain_events_7d, 0) / a.url_events_7d ELSE 0.0 END
    AS top_domain_share_7d,
  coalesce(d.click_links_1d, 0) AS click_links_1d,
  coalesce(d.content_events_1d, 0) AS content_events_1d,
  CASE WHEN d.content_events_1d > 0 THEN d.content_url_events_1d / d.content_events_1d ELSE 0.0 END
    AS content_url_ratio_1d,
  CAST(coalesce(d.distinct_message_targets_1d, 0) AS BIGINT) AS distinct_message_targets_1d,
  coalesce(b.max_url_events_1h, 0) AS max_url_events_1h,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM acct a
LEFT JOIN acct_1d d ON a.account_id = d.account_id
LEFT JOIN domains_7d t ON a.account_id = t.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
