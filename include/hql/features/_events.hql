{#- Included by every features/*.hql right after WITH: the cleaned events of the
    look-back window as CTE `ev`, and those of the day `ds` as CTE `day`.
    clean.user_events (clean/user_events.hql) has each raw day's usable rows once,
    deduplicated and with the derived columns; the window is cut on event_time, over
    the raw days that can hold it (from a day before it: a late client clock), so an
    event counts on the day it happened whichever day it was loaded in. -#}
ev AS (
  SELECT account_id, device_id, ip, user_agent, country, event_type, target_account_id,
         target_item_id, event_time, has_url, domain, is_fail, has_status, amount_usd, automation_ua
  FROM clean.user_events
  WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'
    AND event_time >= TIMESTAMP '{{ lookback_start }}'
    AND event_time < TIMESTAMP '{{ window_end }}'
),
day AS (
  SELECT * FROM ev WHERE event_time >= TIMESTAMP '{{ window_start }}'
)
