-- features.fake_engagement_daily: bought or automated likes, follows, comments and
-- shares, per account with an event in the 7 days ds-6 .. ds. Columns: docs/contracts.md.
INSERT OVERWRITE TABLE features.fake_engagement_daily PARTITION (ds)
WITH
{% include "features/_events.hql" %},
acct AS (
  SELECT account_id, sum(n) AS events_7d FROM wc GROUP BY account_id
),
acct_1d AS (
  SELECT account_id, count(*) AS events_1d FROM day GROUP BY account_id
),
eng_1d AS (
  SELECT account_id,
         count(*) AS engagements_1d,
         sum(CASE WHEN event_type = 'like' THEN 1 ELSE 0 END) AS likes_1d,
         sum(CASE WHEN event_type = 'follow' THEN 1 ELSE 0 END) AS follows_1d,
         sum(CASE WHEN event_type = 'comment' THEN 1 ELSE 0 END) AS comments_1d,
         sum(CASE WHEN event_type = 'share' THEN 1 ELSE 0 END) AS shares_1d,
         size(collect_set(target_account_id)) AS distinct_engaged_accounts_1d,
         size(collect_set(target_item_id)) AS distinct_engaged_items_1d
  FROM day WHERE event_type IN ('like', 'follow', 'comment', 'share') GROUP BY account_id
),
eng_7d AS (
  SELECT account_id, sum(n) AS engagements_7d
  FROM wc WHERE event_type IN ('like', 'follow', 'comment', 'share') GROUP BY account_id
),
engaged_7d AS (
  SELECT account_id, count(DISTINCT value) AS distinct_engaged_accounts_7d
  FROM wv WHERE kind = 'engaged_account' GROUP BY account_id
),
burst AS (
  SELECT account_id, max(n) AS max_engagements_1h
  FROM (SELECT account_id, hour(event_time) AS h, count(*) AS n FROM day
        WHERE event_type IN ('like', 'follow', 'comment', 'share')
        GROUP BY account_id, hour(event_time)) hourly
  GROUP BY account_id
)
SELECT
  {{ pseudonymize('a.account_id') }} AS account_pk,
  TIMESTAMP '{{ feature_ts }}' AS feature_ts,
  coalesce(g.engagements_1d, 0) AS engagements_1d,
  coalesce(w.engagements_7d, 0) AS engagements_7d,
  coalesce(g.likes_1d, 0) AS likes_1d,
  coalesce(g.follows_1d, 0) AS follows_1d,
  coalesce(g.comments_1d, 0) AS comments_1d,
  coalesce(g.shares_1d, 0) AS shares_1d,
  coalesce(b.max_engagements_1h, 0) AS max_engagements_1h,
  CAST(coalesce(g.distinct_engaged_accounts_1d, 0) AS BIGINT) AS distinct_engaged_accounts_1d,
  CAST(coalesce(v.distinct_engaged_accounts_7d, 0) AS BIGINT) AS distinct_engaged_accounts_7d,
  CAST(coalesce(g.distinct_engaged_items_1d, 0) AS BIGINT) AS distinct_engaged_items_1d,
  CASE WHEN d.events_1d > 0 THEN coalesce(g.engagements_1d, 0) / d.events_1d ELSE 0.0 END AS engagement_ratio_1d,
  '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM acct a
LEFT JOIN acct_1d d ON a.account_id = d.account_id
LEFT JOIN eng_1d g ON a.account_id = g.account_id
LEFT JOIN eng_7d w ON a.account_id = w.account_id
LEFT JOIN engaged_7d v ON a.account_id = v.account_id
LEFT JOIN burst b ON a.account_id = b.account_id
