{#- graph.account_edges, partition ds: every account and the devices and IPs it used over
    the look-back (lookback_days: graph.yaml's window_days, ds included) or signed up with,
    pseudonymized here (the raw values never leave the cleaning stage's tables), and how
    many accounts used each. The cleaning stage's daily values hold each account's distinct
    devices and IPs per event day (clean.account_day_values). window_days_seen: the days of
    the look-back that hold events (fewer at a history's start). hub: the node has more
    accounts than hub_max_accounts (a sql_var) scaled to the days seen, or a proxy IP seen
    by 30 accounts in 4 days, 140 in 14, would join strangers on a new history's first days.
    The one definition of a hub: the components leave hubs out, graph_daily counts them. -#}
INSERT OVERWRITE TABLE graph.account_edges PARTITION (ds)
SELECT account_pk, node, kind, node_accounts, window_days_seen,
       node_accounts * {{ lookback_days }} > {{ hub_max_accounts }} * window_days_seen AS hub,
       '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM (
  SELECT account_pk, node, kind, count(*) OVER (PARTITION BY node) AS node_accounts,
         seen.days AS window_days_seen
  FROM (
    -- Distinct raw pairs first, then their HMACs: a pair's pseudonyms are as distinct as its
    -- values, and a window holds each pair on many days (two HMACs a day each, otherwise).
    SELECT {{ pseudonymize('account_id') }} AS account_pk,
           concat(kind, ':', {{ pseudonymize('value') }}) AS node, kind
    FROM (
      SELECT DISTINCT account_id, kind, value
      FROM (
        SELECT account_id, kind, value
        FROM clean.account_day_values
        WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'  -- a load day can hold the day before's events
          AND event_date BETWEEN DATE '{{ lookback_start_ds }}' AND DATE '{{ ds }}'
          AND kind IN ('device', 'ip')
        UNION ALL
        SELECT account_id, 'device' AS kind, signup_device_id AS value FROM raw.account_profiles WHERE ds = '{{ ds }}'
        UNION ALL
        SELECT account_id, 'ip' AS kind, signup_ip AS value FROM raw.account_profiles WHERE ds = '{{ ds }}'
      ) used
      WHERE account_id IS NOT NULL AND account_id <> '' AND value IS NOT NULL AND trim(value) <> ''
    ) pairs
  ) edges
  CROSS JOIN (
    SELECT greatest(count(DISTINCT event_date), 1) AS days
    FROM clean.account_day_values
    WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'
      AND event_date BETWEEN DATE '{{ lookback_start_ds }}' AND DATE '{{ ds }}'
  ) seen
) counted
