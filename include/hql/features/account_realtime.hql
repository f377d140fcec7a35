{#- features.account_realtime_<window set> (the variable window_set; account_realtime_<set>.hql sets it): the streaming job's counters recomputed in batch
    from clean.user_events, by the same definition (features/_account_windows.hql). One row
    per account and per window that was the account's value online once all its events were
    in: the window ending at the first boundary after its newest event, at feature_ts = that
    event's time. Training sets join it point in time; the online store got the same rows
    from the stream. Windows whose newest event falls on ds; their earlier events may lie on
    the day before. -#}
{% from "features/_account_windows.hql" import window_counters, pseudonymized_ids, is_current_window -%}
INSERT OVERWRITE TABLE features.{{ window_set.view }} PARTITION (ds)
SELECT w.account_pk, w.last_event_time AS feature_ts, w.window_start, w.window_end,
       {{ window_set.features | map('string') | join(', ') }},
       '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM (
  SELECT account_pk, window.start AS window_start, window.end AS window_end,
         {{ window_counters(window_set.name) }}
  FROM (
    SELECT e.event_time, e.event_type, e.is_fail, e.amount_usd, e.has_url,
           {{ pseudonymized_ids('e') }}
    FROM clean.user_events e
    WHERE e.ds IN ({{ [dedup_start_ds, ds] | map('ds_literal') | join(', ') }})  -- the day before and ds (look-back 1)
      AND e.event_time >= TIMESTAMP '{{ ds }} 00:00:00' - INTERVAL {{ window_set.length_seconds }} SECONDS
  ) x
  GROUP BY account_pk, window(event_time, '{{ window_set.length_sql }}', '{{ window_set.slide_sql }}')
) w
WHERE {{ is_current_window('w', window_set.slide_micros) }}
  AND to_date(w.last_event_time) = DATE '{{ ds }}'
