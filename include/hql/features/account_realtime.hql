{#- features.account_realtime_<window set> (the variable window_set; account_realtime_<set>.hql sets it): the streaming job's counters recomputed in batch
    from clean.user_events, by the same definition (features/_account_windows.hql). One row
    per account and per window that was the account's value online once all its events were
    in: the window ending at the first boundary after its newest event, at feature_ts = that
    event's time. Training sets join it point in time; the online store got the same rows
    from the stream. Windows whose newest event falls on ds; their earlier events may lie on
    the day before.

    As the stream does, per account and slide of event time the counters' parts are added
    up first (bucket_counters), then each slide with events gives the window that ends with
    it: its own parts and those of the slides before it in the window (a range frame), added
    up (buckets_to_window). Grouping by every sliding window instead copies each event into
    each window it falls in (12 for the hourly set), and took about twice the time.

    The stream pseudonymizes each event's account, IP and device before its state; here the
    raw values stay inside the statement (as in every extract over clean.user_events) and
    only the rows written are pseudonymized: three HMACs an event cost about half of this
    extract's time (bench/bench_extract.py), and the distinct counts are the same. -#}
{% from "features/_account_windows.hql" import bucket_counters, buckets_to_window -%}
INSERT OVERWRITE TABLE features.{{ window_set.view }} PARTITION (ds)
SELECT {{ pseudonymize('account_id') }} AS account_pk, last_event_time AS feature_ts,
       timestamp_micros((slide + 1) * {{ window_set.slide_micros }} - {{ window_set.length_micros }}) AS window_start,
       timestamp_micros((slide + 1) * {{ window_set.slide_micros }}) AS window_end,
       {{ window_set.features | map('string') | join(', ') }},
       '{{ ds }}' AS ds  -- the partition, last (dynamic partition insert)
FROM (
  SELECT account_id, slide, last_event_time,
         {{ buckets_to_window(window_set.name, 'w') }}
  FROM (
    SELECT account_id, floor(unix_micros(event_time) / {{ window_set.slide_micros }}) AS slide,
           {{ bucket_counters(ips='ip', devices='device_id') }}
    FROM (
      SELECT e.event_time, e.event_type, e.is_fail, e.amount_usd, e.has_url, e.account_id, e.ip, e.device_id
      FROM clean.user_events e
      WHERE e.ds IN ({{ [dedup_start_ds, ds] | map('ds_literal') | join(', ') }})  -- the day before and ds (look-back 1)
        AND e.event_time >= TIMESTAMP '{{ ds }} 00:00:00' - INTERVAL {{ window_set.length_seconds }} SECONDS
    ) x
    GROUP BY account_id, floor(unix_micros(event_time) / {{ window_set.slide_micros }})
  ) b
  -- the window ending with a slide: that slide and the ones before it within the window's length
  WINDOW w AS (PARTITION BY account_id ORDER BY slide RANGE BETWEEN {{ window_set.slides - 1 }} PRECEDING AND CURRENT ROW)
) s
WHERE to_date(last_event_time) = DATE '{{ ds }}'
