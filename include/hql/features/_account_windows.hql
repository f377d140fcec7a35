{#- The real-time counters (integrity_risk.streaming.windows), one definition for the
    streaming job and the batch recomputation (features/account_realtime.hql), over
    cleaned events with the account, IP and device already pseudonymized (account_pk,
    ip_pk, device_pk) and the cleaning stage's derived columns.

    What each additive counter adds per event; a window's value is their sum. The stream
    takes each event's parts (event_counters, streaming/account_events.hql) and adds them
    up per account and minute, then a window's minutes, in its bucket store
    (integrity_risk.streaming.buckets); batch adds them up per account and slide
    (bucket_counters), then a window's slides (buckets_to_window,
    features/account_realtime.hql). -#}
{%- set additive_terms = [
  ('login_fails', "CASE WHEN event_type = 'login' THEN is_fail ELSE 0 END"),
  ('payment_attempts', "CASE WHEN event_type = 'payment_attempt' THEN 1 ELSE 0 END"),
  ('payment_fails', "CASE WHEN event_type = 'payment_attempt' THEN is_fail ELSE 0 END"),
  ('follows', "CASE WHEN event_type = 'follow' THEN 1 ELSE 0 END"),
  ('likes', "CASE WHEN event_type = 'like' THEN 1 ELSE 0 END"),
  ('link_posts', "CASE WHEN event_type IN ('post', 'comment', 'message') THEN has_url ELSE 0 END"),
] -%}

{#- One event's parts of the counters (the stream's; its bucket store adds them up as
    bucket_counters does): the additive terms and the exact amount. -#}
{%- macro event_counters() -%}
{%- for name, term in additive_terms %}
{{ term }} AS {{ name }},
{%- endfor %}
       CAST(amount_usd AS DECIMAL(20, 6)) AS payment_amount
{%- endmacro -%}

{#- The counters' parts over a group of events (an account's minute in the stream, its slide
    in batch), which add up to a window's: sums, the exact amount, and the sets of IPs and
    devices (the columns `ips` and `devices` name: their pseudonyms in the stream, whose state
    holds no raw identifier; their raw values in batch, inside one statement over the clean
    table, which count the same and cost no HMAC per event). -#}
{%- macro bucket_counters(ips='ip_pk', devices='device_pk') -%}
count(*) AS events,
{%- for name, term in additive_terms %}
       sum({{ term }}) AS {{ name }},
{%- endfor %}
       sum(CAST(amount_usd AS DECIMAL(20, 6))) AS payment_amount_sum,
       collect_set({{ ips }}) AS ips,
       collect_set({{ devices }}) AS devices,
       max(event_time) AS last_event_time
{%- endmacro -%}

{#- A window's counters from its buckets' (bucket_counters), added up over the window frame
    `frame` of the buckets in the window, in batch; the stream's store does the same sums
    (integrity_risk.streaming.buckets). A bucket's own newest event stays its last_event_time. -#}
{%- macro buckets_to_window(suffix, frame) -%}
sum(events) OVER {{ frame }} AS events_{{ suffix }},
{%- for name, _ in additive_terms %}
         sum({{ name }}) OVER {{ frame }} AS {{ name }}_{{ suffix }},
{%- endfor %}
         CAST(coalesce(sum(payment_amount_sum) OVER {{ frame }}, 0) AS DOUBLE) AS payment_amount_sum_{{ suffix }},
         CAST(size(array_distinct(flatten(collect_list(ips) OVER {{ frame }}))) AS BIGINT) AS distinct_ips_{{ suffix }},
         CAST(size(array_distinct(flatten(collect_list(devices) OVER {{ frame }}))) AS BIGINT) AS distinct_devices_{{ suffix }}
{%- endmacro -%}

{#- The identifiers the counters read, pseudonymized: the only form that leaves the cleaning
    stage (and the only one the streaming job's state and checkpoints hold). -#}
{%- macro pseudonymized_ids(e) -%}
{{ pseudonymize(e ~ '.account_id') }} AS account_pk,
       {{ pseudonymize(e ~ '.ip') }} AS ip_pk,
       {{ pseudonymize(e ~ '.device_id') }} AS device_pk
{%- endmacro -%}
