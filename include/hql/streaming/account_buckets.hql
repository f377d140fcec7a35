{#- One micro-batch of the streaming job: per account and minute (its bucket), the parts of
    every window set's counters (features/_account_windows.hql). The view `events` holds the
    stream's usable events (parsed, cleaned by features/_clean.hql, duplicates dropped
    within the watermark). Update mode: a bucket comes out, whole, each time it gains
    events; the job's sink adds a window's buckets up. -#}
{% from "features/_clean.hql" import derived_columns -%}
{% from "features/_account_windows.hql" import bucket_counters, pseudonymized_ids -%}
SELECT account_pk, unix_micros(bucket.start) AS bucket_micros,
       {{ additive_counters | join(', ') }}, payment_amount_sum, ips, devices,
       unix_micros(last_event_time) AS last_event_micros
FROM (
  SELECT account_pk, window AS bucket,
         {{ bucket_counters() }}
  FROM (
    SELECT e.event_time, e.event_type,
           {{ pseudonymized_ids('e') }},
           {{ derived_columns('e') }}
    FROM events e
  ) x
  GROUP BY account_pk, window(event_time, '{{ bucket_seconds }} seconds')
) b
