{#- The real-time counters (integrity_risk.streaming.windows), one definition for the
    streaming job and the batch recomputation (features/account_realtime.hql), over
    cleaned events with the account, IP and device already pseudonymized (account_pk,
    ip_pk, device_pk) and the cleaning stage's derived columns.

    What each additive counter adds per event; a window's value is their sum. The stream
    adds them per account and minute (bucket_counters, streaming/account_buckets.hql), then
    the minutes of a window (integrity_risk.streaming.sink); batch adds them per window at
    once (window_counters). -#}
{%- set additive_terms = [
  ('login_fails', "CASE WHEN event_type = 'login' THEN is_fail ELSE 0 END"),
  ('payment_attempts', "CASE WHEN event_type = 'payment_attempt' THEN 1 ELSE 0 END"),
  ('payment_fails', "CASE WHEN event_type = 'payment_attempt' THEN is_fail ELSE 0 END"),
  ('follows', "CASE WHEN event_type = 'follow' THEN 1 ELSE 0 END"),
  ('likes', "CASE WHEN event_type = 'like' THEN 1 ELSE 0 END"),
  ('link_posts', "CASE WHEN event_type IN ('post', 'comment', 'message') THEN has_url ELSE 0 END"),
] -%}

{#- One window set's counters over a group of events (a sliding window, in batch). -#}
{%- macro window_counters(suffix) -%}
count(*) AS events_{{ suffix }},
{%- for name, term in additive_terms %}
       sum({{ term }}) AS {{ name }}_{{ suffix }},
{%- endfor %}
       -- exact (DECIMAL), then rounded once: a window adds its events up in no fixed order
       CAST(coalesce(sum(CAST(amount_usd AS DECIMAL(20, 6))), 0) AS DOUBLE) AS payment_amount_sum_{{ suffix }},
       CAST(size(collect_set(ip_pk)) AS BIGINT) AS distinct_ips_{{ suffix }},
       CAST(size(collect_set(device_pk)) AS BIGINT) AS distinct_devices_{{ suffix }},
       max(event_time) AS last_event_time
{%- endmacro -%}

{#- The same counters' parts over a group of events (an account's minute, in the stream),
    which add up to a window's: sums, the exact amount, and the sets of IPs and devices. -#}
{%- macro bucket_counters() -%}
count(*) AS events,
{%- for name, term in additive_terms %}
       sum({{ term }}) AS {{ name }},
{%- endfor %}
       sum(CAST(amount_usd AS DECIMAL(20, 6))) AS payment_amount_sum,
       collect_set(ip_pk) AS ips,
       collect_set(device_pk) AS devices,
       max(event_time) AS last_event_time
{%- endmacro -%}

{#- The identifiers the counters read, pseudonymized: the only form that leaves the cleaning
    stage (and the only one the streaming job's state and checkpoints hold). -#}
{%- macro pseudonymized_ids(e) -%}
{{ pseudonymize(e ~ '.account_id') }} AS account_pk,
       {{ pseudonymize(e ~ '.ip') }} AS ip_pk,
       {{ pseudonymize(e ~ '.device_id') }} AS device_pk
{%- endmacro -%}

{#- The window an account's value online is: the one that ends at the first boundary after
    its newest event, i.e. its events of the last `length` (up to a slide less) up to now. -#}
{%- macro is_current_window(w, slide_micros) -%}
{{ w }}.window_end = timestamp_micros((floor(unix_micros({{ w }}.last_event_time) / {{ slide_micros }}) + 1) * {{ slide_micros }})
{%- endmacro -%}
