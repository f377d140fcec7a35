{#- features.graph_daily, partition ds: per account of the day's profile snapshot, what its
    connected component (graph.account_components of ds: accounts joined through the
    devices and IPs they shared over the window, hubs left out) looks like at the end of ds.
    An account in no edge is a component of one. Settings: include/tables/graph.yaml
    (hub_max_accounts and label_maturity_days also as sql_vars). features.labels of ds
    must be written first. -#}
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
), nodes AS (
  SELECT component,
         count(CASE WHEN vertex LIKE 'device:%' THEN 1 END) AS devices,
         count(CASE WHEN vertex LIKE 'ip:%' THEN 1 END) AS ips
  FROM graph.account_components WHERE ds = '{{ ds }}'
  GROUP BY component
), hubs AS (
  SELECT account_pk, count(*) AS hub_nodes
  FROM graph.account_edges WHERE ds = '{{ ds }}' AND node_accounts > {{ hub_max_accounts }}
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
       '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM members m
JOIN components c ON c.component = m.component
LEFT JOIN nodes n ON n.component = m.component
LEFT JOIN hubs h ON h.account_pk = m.account_pk
LEFT JOIN labelled l ON l.account_pk = m.account_pk
