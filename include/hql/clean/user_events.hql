{#- clean.user_events: the usable events of the raw days `days` (one dynamic partition
    insert writes them all, each day replaced whole or not at all). The one place that
    reads raw.user_events for features: the extracts read this table.
    - Dirty rows (features/_clean.hql, the definition the upstream health gate counts)
      are dropped.
    - An event_id counts once: within a day its first copy (by event_time, then the
      other columns, so a rerun keeps the same one); a copy whose event_id the raw day
      before already had (a client retry across midnight) is dropped, as that day keeps it.
    - Derived columns are computed here once for every extract. -#}
{% from "features/_clean.hql" import clean_event, derived_columns -%}
INSERT OVERWRITE TABLE clean.user_events PARTITION (ds)
SELECT c.event_id, c.event_time, c.account_id, c.device_id, c.ip, c.user_agent, c.country, c.event_type,
       c.target_account_id, c.target_item_id,
       {{ derived_columns('c') }},
       c.ds  -- the partition, last (dynamic partition insert)
FROM (
  SELECT e.*,
         row_number() OVER (PARTITION BY e.ds, e.event_id
                            ORDER BY e.event_time, e.account_id, e.device_id, e.ip, e.status,
                                     e.url, e.amount, e.target_account_id, e.target_item_id) AS copy_no
  FROM raw.user_events e
  WHERE e.ds IN ({{ days | map('ds_literal') | join(', ') }})
    AND {{ clean_event('e') }}
) c
LEFT ANTI JOIN (
  SELECT DISTINCT p.event_id, date_format(date_add(to_date(p.ds), 1), 'yyyy-MM-dd') AS next_ds
  FROM raw.user_events p
  WHERE p.ds IN ({{ previous_days | map('ds_literal') | join(', ') }})
    AND {{ clean_event('p') }}
) seen ON seen.event_id = c.event_id AND seen.next_ds = c.ds
WHERE c.copy_no = 1
;
{#- The daily partials of the days just cleaned (clean_tables.hql): what the windows of
    the feature extracts add up. -#}
INSERT OVERWRITE TABLE clean.account_day_counts PARTITION (ds)
SELECT account_id, to_date(event_time) AS event_date, event_type, country,
       count(*) AS n, sum(is_fail) AS fails, sum(has_status) AS with_status, sum(has_url) AS url_events,
       -- exact (DECIMAL): a window adds these up in no fixed order, and a sum of doubles
       -- would then differ in its last digits from one run of the same day to the next
       sum(CAST(amount_usd AS DECIMAL(20, 6))) AS amount_usd,
       ds  -- the partition, last (dynamic partition insert)
FROM clean.user_events
WHERE ds IN ({{ days | map('ds_literal') | join(', ') }})
GROUP BY ds, account_id, to_date(event_time), event_type, country
;
INSERT OVERWRITE TABLE clean.account_day_values PARTITION (ds)
SELECT account_id, event_date, kind, value, count(*) AS n,
       ds  -- the partition, last (dynamic partition insert)
FROM (
  SELECT e.ds, e.account_id, to_date(e.event_time) AS event_date, k.kind, k.value
  FROM clean.user_events e
  LATERAL VIEW stack(6,
    'device', e.device_id,
    'ip', e.ip,
    'payment_device', CASE WHEN e.event_type = 'payment_attempt' THEN e.device_id END,
    'engaged_account', CASE WHEN e.event_type IN ('like', 'follow', 'comment', 'share') THEN e.target_account_id END,
    'follow_target', CASE WHEN e.event_type = 'follow' THEN e.target_account_id END,
    'domain', CASE WHEN e.has_url = 1 THEN e.domain END
  ) k AS kind, value
  WHERE e.ds IN ({{ days | map('ds_literal') | join(', ') }})
) used
WHERE value IS NOT NULL
GROUP BY ds, account_id, event_date, kind, value
