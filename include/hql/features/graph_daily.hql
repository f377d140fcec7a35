{#- features.graph_daily, partition ds: per account of the day's profile snapshot, what its
    connected component (graph.account_components of ds: accounts joined through the
    devices and IPs they shared over the window, hubs left out) looks like at the end of ds.
    An account in no edge is a component of one; hub_nodes counts the nodes the edges
    extract marked hub. Settings: include/tables/graph.yaml (label_maturity_days also as a
    sql_var; the extract's look-back is the graph's window, for the accounts engaged).
    features.labels of ds must be written first.
    The anomaly score is fitted on the day's own components of two or more accounts, not on
    earlier days' rows: a day's features then do not depend on which days a backfill wrote
    first. -#}
INSERT OVERWRITE TABLE features.graph_daily PARTITION (ds)
WITH accounts AS (
  SELECT {{ pseudonymize('account_id') }} AS account_pk, max(created_at) AS created_at
  FROM raw.account_profiles
  WHERE ds = '{{ ds }}' AND account_id IS NOT NULL AND account_id <> ''
  GROUP BY 1
), members AS (
  SELECT a.account_pk, a.created_at, coalesce(v.component, a.account_pk) AS component
  FROM accounts a
  LEFT JOIN (SELECT vertex, component FROM graph.account_components WHERE ds = '{{ ds }}') v
    ON v.vertex = a.account_pk
), labelled AS (  -- confirmed and matured at feature_ts: a later label changes nothing
  SELECT DISTINCT account_pk FROM features.labels
  WHERE ds = '{{ ds }}' AND label = 1
    AND risk_type IN ({{ graph_settings().label_risk_types | map('sql_string') | join(', ') }})
    AND labeled_at <= TIMESTAMP '{{ feature_ts }}' - INTERVAL {{ label_maturity_days }} DAYS
), components AS (
  SELECT m.component, count(*) AS accounts,
         stddev_pop(unix_seconds(m.created_at)) / 86400 AS created_spread_days,
         count(l.account_pk) AS labelled
  FROM members m LEFT JOIN labelled l ON l.account_pk = m.account_pk
  GROUP BY m.component
), engaged AS (  -- the accounts each account liked, followed, commented on or shared over the window
  SELECT {{ pseudonymize('account_id') }} AS account_pk, target  -- distinct pairs first, then one HMAC each
  FROM (
    SELECT DISTINCT account_id, value AS target
    FROM clean.account_day_values
    WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'  -- a load day can hold the day before's events
      AND event_date BETWEEN DATE '{{ lookback_start_ds }}' AND DATE '{{ ds }}'
      AND kind = 'engaged_account' AND account_id IS NOT NULL AND account_id <> ''
  ) pairs
), member_targets AS (
  SELECT m.component, e.account_pk, e.target
  FROM engaged e JOIN members m ON m.account_pk = e.account_pk
), shared_targets AS (  -- per account: the share of its targets another member engaged too
  SELECT t.account_pk, avg(CASE WHEN c.members > 1 THEN 1D ELSE 0D END) AS share
  FROM member_targets t
  JOIN (SELECT component, target, count(*) AS members FROM member_targets GROUP BY component, target) c
    ON c.component = t.component AND c.target = t.target
  GROUP BY t.account_pk
), nodes AS (
  SELECT component,
         count(CASE WHEN vertex LIKE 'device:%' THEN 1 END) AS devices,
         count(CASE WHEN vertex LIKE 'ip:%' THEN 1 END) AS ips
  FROM graph.account_components WHERE ds = '{{ ds }}'
  GROUP BY component
), stats AS (  -- the statistics the anomaly score compares, one row per component of 2+ accounts
  SELECT c.component,
         ln(c.accounts) AS log_accounts,
         c.accounts / (coalesce(n.devices, 0) + coalesce(n.ips, 0)) AS accounts_per_node,
         ln(1 + c.created_spread_days) AS log_spread,
         coalesce(avg(coalesce(s.share, 0D)), 0D) AS shared_target_share
  FROM components c
  JOIN nodes n ON n.component = c.component
  JOIN members m ON m.component = c.component
  LEFT JOIN shared_targets s ON s.account_pk = m.account_pk
  WHERE c.accounts > 1
  GROUP BY c.component, c.accounts, n.devices, n.ips, c.created_spread_days
), centre AS (
  SELECT percentile(log_accounts, 0.5) AS m1, percentile(accounts_per_node, 0.5) AS m2,
         percentile(log_spread, 0.5) AS m3, percentile(shared_target_share, 0.5) AS m4
  FROM stats
), spread AS (  -- robust scales: 1.4826 MAD, at least 0.1 so that a statistic that barely varies cannot explode
  SELECT greatest(1.4826 * percentile(abs(s.log_accounts - c.m1), 0.5), 0.1) AS d1,
         greatest(1.4826 * percentile(abs(s.accounts_per_node - c.m2), 0.5), 0.1) AS d2,
         greatest(1.4826 * percentile(abs(s.log_spread - c.m3), 0.5), 0.1) AS d3,
         greatest(1.4826 * percentile(abs(s.shared_target_share - c.m4), 0.5), 0.1) AS d4
  FROM stats s CROSS JOIN centre c
), anomaly AS (  -- root mean square of the four robust z-scores
  SELECT s.component,
         sqrt((pow((s.log_accounts - c.m1) / d.d1, 2) + pow((s.accounts_per_node - c.m2) / d.d2, 2)
               + pow((s.log_spread - c.m3) / d.d3, 2) + pow((s.shared_target_share - c.m4) / d.d4, 2)) / 4) AS score
  FROM stats s CROSS JOIN centre c CROSS JOIN spread d
), hubs AS (
  SELECT account_pk, count(*) AS hub_nodes
  FROM graph.account_edges
  WHERE ds = '{{ ds }}' AND hub
  GROUP BY account_pk
)
SELECT m.account_pk, TIMESTAMP '{{ feature_ts }}' AS feature_ts,
       c.accounts AS component_accounts,
       coalesce(n.devices, 0) AS component_devices,
       coalesce(n.ips, 0) AS component_ips,
       coalesce(c.created_spread_days, 0D) AS component_created_spread_days,
       coalesce(h.hub_nodes, 0) AS hub_nodes,
       -- the other members' labels: the account's own would be its target
       CASE WHEN c.accounts > 1
            THEN (c.labelled - CASE WHEN l.account_pk IS NULL THEN 0 ELSE 1 END) / (c.accounts - 1)
            ELSE 0D END AS component_labelled_share,
       coalesce(st.share, 0D) AS component_shared_target_share,
       coalesce(an.score, 0D) AS component_anomaly_score,
       '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM members m
JOIN components c ON c.component = m.component
LEFT JOIN nodes n ON n.component = m.component
LEFT JOIN hubs h ON h.account_pk = m.account_pk
LEFT JOIN labelled l ON l.account_pk = m.account_pk
LEFT JOIN shared_targets st ON st.account_pk = m.account_pk
LEFT JOIN anomaly an ON an.component = m.component
