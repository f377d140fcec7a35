{#- Included by every features/*.hql right after WITH, as three CTEs:
    - `day`: the cleaned events of the day ds (clean.user_events, clean/user_events.hql);
    - `wc`, `wv`: the daily partials of the look-back window (clean_tables.hql), the
      counts and the distinct values per account and event day, which the windows add up.
    Both are cut on the event's time over the raw days that can hold it (from a day
    before the look-back: a late client clock), so an event counts on the day it
    happened whichever day it was loaded in. -#}
day AS (
  SELECT account_id, device_id, ip, user_agent, country, event_type, target_account_id,
         target_item_id, event_time, has_url, domain, is_fail, has_status, amount_usd, automation_ua
  FROM clean.user_events
  WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'
    AND event_time >= TIMESTAMP '{{ window_start }}'
    AND event_time < TIMESTAMP '{{ window_end }}'
),
wc AS (
  SELECT account_id, event_date, event_type, country, n, fails, with_status, url_events, amount_usd
  FROM clean.account_day_counts
  WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'
    AND event_date BETWEEN DATE '{{ lookback_start_ds }}' AND DATE '{{ ds }}'
),
wv AS (
  SELECT account_id, kind, value, n
  FROM clean.account_day_values
  WHERE ds BETWEEN '{{ dedup_start_ds }}' AND '{{ ds }}'
    AND event_date BETWEEN DATE '{{ lookback_start_ds }}' AND DATE '{{ ds }}'
)
