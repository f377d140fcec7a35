{#- One micro-batch's windows of the streaming job: the view `events` holds the stream's
    usable events (parsed, cleaned by features/_clean.hql, duplicates dropped within the
    watermark). Update mode: a window comes out each time it gains events. -#}
{% from "features/_clean.hql" import derived_columns -%}
{% from "features/_account_windows.hql" import window_counters, pseudonymized_ids -%}
SELECT account_pk, window.start AS window_start, window.end AS window_end,
       {{ window_counters(window_set.name) }}
FROM (
  SELECT e.event_time, e.event_type,
         {{ pseudonymized_ids('e') }},
         {{ derived_columns('e') }}
  FROM events e
) x
GROUP BY account_pk, window(event_time, '{{ window_set.length_sql }}', '{{ window_set.slide_sql }}')
