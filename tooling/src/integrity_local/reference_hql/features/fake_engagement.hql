-- features.fake_engagement_daily: bought or automated likes, follows, comments and
-- shares, per account with an event in the 7 days ds-6 .. ds. Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.fake_engagement_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
eng AS (
  SELECT account_id, event_type, target_account_id, target_item_id, event_time,
         CASE WHEN event_time >= TIMESTAMP '{{ window_start }}' THEN 1 ELSE 0 END AS in_1d
  FROM ev
  WHERE event_type IN ('like', 'follow', 'comment', 'share')
),
acct AS (
  SELECT account_id, count(*) AS events_7d, sum(CASE WHEN event_time >= TIMESTAMP '{{ window_start }}' THEN 1 ELSE 0 END) AS events_1d
  FROM ev GROUP BY account_id
),
eng_agg AS (
  SELECT account_id,
         sum(in_1d) AS engagements_1d,
         count(*) AS engagements_7d,
         sum(CASE WHEN event_type = 'like' THEN in_1d ELSE 0 END) AS likes_1d,
         sum(CASE WHEN event_type = 'follow' THEN in_1d ELSE 0 END) AS follows_1d,
         sum(CASE WHEN event_type = 'comment' THEN in_1d ELSE 0 END) AS comments_1d,
         sum(CASE WHEN event_type = 'share' THEN in_1d ELSE 0 END) AS shares_1d,
         size(collect_set(CASE WHEN in_1d = 1 THEN target_account_id END)) AS distinct_engaged_accounts_1d,
         size(collect_set(target_account_id)) AS distinct_engaged_accounts_7d,
         size(collect_set(CASE WHEN in_1d = 1 THEN target_item_id END)) AS distinct_engaged_items_1d
  FROM eng GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_engagements_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM eng WHERE in_1d = 1
        GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  coalesce(g.engagements_1d, 0) AS engagements_1d,
  coalesce(g.engagements_7d, 0) AS engagements_7d,
  coalesce(g.likes_1d, 0) AS likes_1d,
  coalesce(g.follows_1d, 0) AS follows_1d,
  coalesce(g.comments_1d, 0) AS comments_1d,
  coalesce(g.shares_1d, 0) AS shares_1d,
  coalesce(b.max_engagements_1h, 0) AS max_engagements_1h,
  CAST(coalesce(g.distinct_engaged_accounts_1d, 0) AS BIGINT) AS distinct_engaged_accounts_1d,
  CAST(coalesce(g.distinct_engaged_accounts_7d, 0) AS BIGINT) AS distinct_engaged_accounts_7d,
  CAST(coalesce(g.distinct_engaged_items_1d, 0) AS BIGINT) AS distinct_engaged_items_1d,
  CASE WHEN a.events_1d > 0 THEN coalesce(g.engagements_1d, 0) / a.events_1d ELSE 0.0 END AS engagement_ratio_1d,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM acct a
LEFT JOIN eng_agg g ON a.account_id = g.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
